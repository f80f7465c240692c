"""Storefront REST API v1."""
from retainful.api import (automations, conversations, coupons, openapi, reports, templates,  # noqa: F401  (routes)
                           webhooks)
from retainful.api.views import bp

__all__ = ["bp"]
