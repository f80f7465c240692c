"""Reading storefront requests: the caller's store, a JSON body validated against a schema, the row a path names;
and the create-or-replace answer every PUT-like view gives."""
from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any, Callable, TypeVar

from flask import g, jsonify, request
from marshmallow import Schema, ValidationError

from retainful import logs
from retainful.api.errors import ApiError, flatten_messages, validation_error
from retainful.errors import FieldError
from retainful.models import Store
from retainful.models.types import MAX_ID
from retainful.stores import authenticate
from retainful.text import refuse_unstorable, refuse_unstorable_fields

T = TypeVar("T")
K = TypeVar("K")
_BEARER = re.compile(r"^Bearer\s+(\S+)\s*$", re.IGNORECASE)


def authenticate_request() -> None:
    """Resolve ``Authorization: Bearer <key>`` to the calling store, or answer 401."""
    match = _BEARER.match(request.headers.get("Authorization", ""))
    store = authenticate(match.group(1)) if match else None
    if store is None:
        raise ApiError(401, "unauthorized", "Send the store's secret key as 'Authorization: Bearer <key>'.")
    g.store = store
    logs.bind(store_id=store.id)


def current_store() -> Store:
    return g.store


def json_object(raw: bytes) -> dict[str, Any]:
    """The request's body bytes as a JSON object (numbers kept exact as Decimal); 415 if it is not declared as JSON,
    400 ``invalid_json`` if it is declared so but does not parse (or nests too deep to parse), 400 if it is no object.
    Takes the bytes so a signed webhook can check them before they are read as JSON."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "Send the body as JSON (Content-Type: application/json).")
    try:
        payload = json.loads(raw, parse_float=Decimal)
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "The body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise validation_error({"_schema": ["The body must be a JSON object."]})
    return payload


def json_body(schema: Schema) -> dict[str, Any]:
    """The request body as json_object reads it, validated against ``schema``."""
    payload = json_object(request.get_data(cache=False))
    refuse_unstorable(payload)  # any string, any depth, before the schema: a FieldError answered as a 400
    try:
        return schema.load(payload)
    except ValidationError as error:
        raise validation_error(flatten_messages(error.messages)) from None


def refuse_unstorable_url() -> None:
    """A NUL or lone surrogate in a path segment or the query string is a 400 naming it (``/coupons/AB%00CD`` would
    otherwise reach the database)."""
    refuse_unstorable_fields(request.view_args or {})
    refuse_unstorable_fields(request.args)


def whole_arg(name: str, default: int | None, high: int) -> int | None:
    """A query parameter that must be a whole number from 1 to ``high`` (a 400 naming it otherwise)."""
    value = request.args.get(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= high:
        raise FieldError(name, f"A whole number from 1 to {high}.")
    return int(value)


def path_id(value: str) -> int | None:
    """A path segment as a row id, or None when it cannot be one (the caller answers 404). Ten digits at most: a
    longer one is no id, and int() of thousands of digits is refused."""
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 10 and int(value) <= MAX_ID else None


def row_or_404(what: str, load: Callable[[Store, K], T | None], segment: str,
               key: Callable[[str], K | None] = path_id, by: str = "id") -> T:
    """The calling store's row that a path segment names, read by ``load(store, key(segment))``, or a 404
    "No <what> with this <by>.": one answer for every resource, whether the segment cannot be a key (``key`` gives
    None), names nothing, or names another store's row. ``key`` may also raise a 400 for a malformed segment."""
    row_key = key(segment)
    row = load(current_store(), row_key) if row_key is not None else None
    if row is None:
        raise ApiError(404, "not_found", f"No {what} with this {by}.")
    return row


def external_id(segment: str) -> str | None:
    """A path segment as the shop's own id or code; None (names nothing: a 404) past 64 characters, since no stored
    id or code is longer, so no query compares an unbounded string (nor a cut one that names another row)."""
    return segment if len(segment) <= 64 else None


def saved(body: dict[str, Any], created: bool):
    """A create-or-replace answer: 201 when the call made the row, 200 when it replaced one."""
    return jsonify(body), 201 if created else 200
