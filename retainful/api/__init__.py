"""Storefront REST API v1."""
from retainful.api import openapi  # noqa: F401  (registers /api/v1/openapi.json on the blueprint)
from retainful.api.views import bp

__all__ = ["bp"]
