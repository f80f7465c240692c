"""Storefront REST API v1."""
from retainful.api import (automations, coupons, openapi, reports, subscribers, templates,  # noqa: F401  (routes)
                           webhooks)
from retainful.api.views import bp

__all__ = ["bp"]
