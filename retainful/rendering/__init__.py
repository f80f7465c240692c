"""Turning templates and a cart into what the shopper reads: sandboxed Jinja, merge variables, links, CSS inlining."""
from retainful.rendering.engine import (EmailRendering, SmsRendering, TemplateError, render_email, render_sms,
                                       render_text)
from retainful.rendering.message import Rendered, render_message

__all__ = ["EmailRendering", "Rendered", "SmsRendering", "TemplateError", "render_email", "render_message",
           "render_sms", "render_text"]
