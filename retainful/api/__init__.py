"""Storefront REST API v1."""
from retainful.api import (automations, conversations, coupons, experiments, openapi, reports,  # noqa: F401
                           subscribers, templates, webhooks)
from retainful.api.views import bp

__all__ = ["bp"]
