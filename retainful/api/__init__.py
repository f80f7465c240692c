"""Storefront REST API v1."""
from retainful.api import (coupons, openapi, reports, subscribers, templates,  # noqa: F401  (routes on the blueprint)
                           webhooks)
from retainful.api.views import bp

__all__ = ["bp"]
