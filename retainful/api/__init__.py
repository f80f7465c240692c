"""Storefront REST API v1."""
from retainful.api import (automations, campaigns, conversations, coupons, openapi, reports, subscribers,  # noqa: F401
                           templates, webhooks)
from retainful.api.views import bp

__all__ = ["bp"]
