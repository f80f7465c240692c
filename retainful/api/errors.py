"""One JSON error shape for every API failure: {"error": {"code", "message", "fields"}}."""
from __future__ import annotations

import logging
from typing import Any, Mapping

from flask import Flask, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from retainful import database
from retainful.errors import FieldError
from retainful.extensions import db

log = logging.getLogger(__name__)

JSON_PREFIXES = ("/api/", "/healthz", "/readyz", "/metrics", "/retainful/")


class ApiError(Exception):
    """An error answered as JSON with the given status."""

    def __init__(self, status: int, code: str, message: str, fields: Mapping[str, list[str]] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


def error_response(status: int, code: str, message: str, fields: Mapping[str, list[str]] | None = None):
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = dict(fields)
    return jsonify(error=body), status


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Marshmallow's nested messages as dotted paths: {"items": {0: {"quantity": [...]}}} -> "items.0.quantity"."""
    if isinstance(messages, dict):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            flat.update(flatten_messages(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {prefix or "_schema": messages}
    return {prefix or "_schema": [str(messages)]}


def validation_error(fields: Mapping[str, list[str]], code: str = "validation_error") -> ApiError:
    names = ", ".join(sorted(fields))
    return ApiError(400, code, f"Invalid fields: {names}.", fields)


def _wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES)


def _page_for_people(status: int):
    """The admin's own error page (in its frame, with a way back) under /admin; None elsewhere (werkzeug's page)."""
    render = current_app.extensions.get("retainful_admin_error_page")
    if render is not None and (request.path == "/admin" or request.path.startswith("/admin/")):
        return render(status)
    return None


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError):
        return error_response(error.status, error.code, error.message, error.fields)

    @app.errorhandler(FieldError)
    def _field_error(error: FieldError):
        return _api_error(validation_error({error.field: [error.message]}, error.code))

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        if not _wants_json():
            page = _page_for_people(error.code) if error.code and error.code >= 400 else None
            if page is None:
                return error
            body, status, headers = page
            headers.update((name, value) for name, value in error.get_headers() if name.lower() != "content-type")
            return body, status, headers
        code = (error.name or "error").lower().replace(" ", "_")
        response, status = error_response(error.code or 500, code, error.description or error.name)
        for name, value in error.get_headers():  # e.g. Allow on a 405, WWW-Authenticate on a 401
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, status

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        if database.unavailable(error):
            return _database_unavailable(error)
        log.exception("unhandled error on %s %s", request.method, request.path)
        if not _wants_json():
            return _page_for_people(500) or ("Internal server error", 500)
        return error_response(500, "internal_error", "Something went wrong on our side; it has been logged.")


def _database_unavailable(error: Exception):
    """Busy or down is not a bug: 503 with Retry-After, as JSON for the API and a plain page for people."""
    db.session.rollback()
    log.warning("database busy or unavailable on %s %s: %s", request.method, request.endpoint,
                database.error_summary(error))
    headers = {"Retry-After": str(database.RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}
    if not _wants_json():
        return render_template("public/unavailable.html"), 503, headers
    response, status = error_response(503, "database_unavailable",
                                      f"The database is busy or unavailable; retry in {database.RETRY_AFTER_SECONDS}"
                                      " seconds.")
    response.headers.update(headers)
    return response, status
