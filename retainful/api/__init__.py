"""Storefront REST API v1."""
from retainful.api import coupons, openapi, templates  # noqa: F401  (register their routes on the blueprint)
from retainful.api.views import bp

__all__ = ["bp"]
