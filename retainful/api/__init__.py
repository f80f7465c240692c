"""Storefront REST API v1."""
from retainful.api import (automations, coupons, openapi, reports, templates,  # noqa: F401  (routes on the blueprint)
                           webhooks)
from retainful.api.views import bp

__all__ = ["bp"]
