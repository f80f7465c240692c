"""Shopper-facing endpoints: recovery links, the open pixel, unsubscribe."""
from retainful.public.views import bp

__all__ = ["bp"]
