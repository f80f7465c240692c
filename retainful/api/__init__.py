"""Storefront REST API v1."""
from retainful.api import (automations, campaigns, conversations, coupons, openapi, products, reports,  # noqa: F401
                           subscribers, templates, webhooks)
from retainful.api.views import bp

__all__ = ["bp"]
