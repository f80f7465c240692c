"""Turning an outbox row into what the shopper reads. Built-in texts until marketer templates replace them."""
from retainful.rendering.builtin import Rendered, render_message

__all__ = ["Rendered", "render_message"]
