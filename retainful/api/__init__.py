"""Storefront REST API v1."""
from retainful.api import (automations, campaigns, conversations, coupons, experiments, openapi,  # noqa: F401
                           products, reports, subscribers, templates, webhooks)
from retainful.api.views import bp

__all__ = ["bp"]
