"""The endpoints the official Retainful WooCommerce plugin calls, at the paths it composes from its base URLs.

A thin adapter: the app id names the store, the plugin's HMAC (checked before anything is decrypted) authenticates
the body, the storefront API's schemas validate the plaintext, and the cart and order intake do the rest. Every
answer carries ``success``, which is what the plugin reads.
"""
from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import Blueprint, jsonify, request, send_file
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import HTTPException

from retainful import plugin, stores, text
from retainful.api.errors import ApiError, error_response, flatten_messages, validation_error
from retainful.api.schemas import TOKEN_PATTERN, CartIn, OrderIn, PluginEnvelopeIn
from retainful.errors import FieldError
from retainful.models import Store
from retainful.plugin import crypto, payloads

bp = Blueprint("retainful_plugin", __name__, url_prefix="/retainful/v1")

cart_in, order_in, envelope_in = CartIn(), OrderIn(), PluginEnvelopeIn()
_token = re.compile(TOKEN_PATTERN)
_PING = re.compile(rb"^webhook_id=\d{1,20}$")  # WooCommerce's test delivery when the plugin creates its webhooks
# What the plugin's JS engine sends from the shop's pages (abandoned_cart.js); the body is sealed, so any origin may.
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, app_id, App-Id, X-Client-Referrer-IP, X-Retainful-Version, "
                                    "X-Cart-Token, Cart-Token, User-TimeZone",
    "Access-Control-Max-Age": "86400",
}
TRACKING_SCRIPT = Path(plugin.__file__).parent / "static" / "retainful.js"
SCRIPT_MAX_AGE = 3600  # an hour: shops pick up a new version soon, and the ETag makes each recheck cheap
REFUSED = "The app id and secret key do not match; copy both again from the service (retainful plugin-credentials)."


@bp.errorhandler(ApiError)
def _refused(error: ApiError):
    response, status = error_response(error.status, error.code, error.message, error.fields)
    return jsonify(success=False, **response.get_json()), status


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):  # a body over MAX_CONTENT_LENGTH (413), ...
    code = (error.name or "error").lower().replace(" ", "_")
    return _refused(ApiError(error.code or 500, code, error.description or error.name))


@bp.errorhandler(FieldError)
def _invalid(error: FieldError):
    return _refused(validation_error({payloads.plugin_field(error.field): [error.message]}))


@bp.after_request
def _cors(response):
    if request.endpoint == "retainful_plugin.checkout":
        response.headers.update(CORS_HEADERS)
    return response


def _header_app_id() -> str | None:
    """``app_id`` reaches us only where the server keeps underscore headers; ``App-Id`` is read the same way. A proxy
    that got both spellings may join them (``x,x``)."""
    values = {value.strip() for value in request.headers.get("App-Id", "").split(",")} - {""}
    return values.pop() if len(values) == 1 else None


def _calling_store(app_id: str | None = None) -> Store:
    """The store named by the app id in the path (the must-use plugin's URLs) or in the header; both must agree."""
    header = _header_app_id()
    store = None if app_id is not None and header not in (None, app_id) else stores.store_by_app_id(app_id or header)
    if store is None:
        raise ApiError(401, "unauthorized", "Send the store's Retainful app id in the App-Id header.")
    return store


def _json_object() -> dict[str, Any]:
    try:
        body = json.loads(request.get_data(cache=False))
    except (ValueError, RecursionError):
        raise validation_error({"_schema": ["The body is not JSON."]}) from None
    if not isinstance(body, dict):
        raise validation_error({"_schema": ["The body must be a JSON object."]})
    return body


def _load(schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    try:
        return schema.load(data)
    except ValidationError as error:
        messages = flatten_messages(error.messages)
        raise validation_error({payloads.plugin_field(name): value for name, value in messages.items()}) from None


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e400: PostgreSQL's json refuses the Infinity it would be written as
        raise ValueError(text)
    return number


def _no_constant(name: str):
    raise ValueError(name)  # NaN, Infinity: not JSON, though Python's parser takes them


def _open(store: Store, blob: Any) -> tuple[Any, Any]:
    """The plaintext twice: numbers exact for the intake, plain JSON for the kept snapshot."""
    try:
        text = crypto.open_text(blob, store.retainful_secret_key)
    except crypto.EnvelopeError:
        raise ApiError(401, "unauthorized", "The data is not sealed with this store's secret key.") from None
    try:
        return (json.loads(text, parse_float=Decimal, parse_constant=_no_constant),
                json.loads(text, parse_float=_finite, parse_constant=_no_constant))
    except (ValueError, RecursionError):
        raise validation_error({"data": ["The decrypted data is not JSON."]}) from None


@bp.post("/app/<app_id>")
def connect(app_id: str):
    store = stores.store_by_app_id(app_id)
    shop = _json_object().get("shop")
    header = _header_app_id()
    if store is None or not isinstance(shop, dict) or header not in (None, app_id):
        return jsonify(success=False, message=REFUSED), 401
    try:
        sealed = crypto.open_text(shop.get("secret_key"), store.retainful_secret_key)
    except crypto.EnvelopeError:
        sealed = None
    if sealed is None or app_id not in (sealed, _json_string(sealed)):
        plugin.connect_refused(store)
        return jsonify(success=False, message=REFUSED), 401
    text.refuse_unstorable(shop, "shop")
    plugin.connect(store, shop)
    return jsonify(success=True, plan="free", status="active", period_end="never",
                   message="App connected successfully")


def _json_string(text: str) -> str | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, str) else None


# The same endpoints with the app id in the path: the plugin posts through the Requests library directly wherever
# WordPress has it loaded, so WordPress's http_request_args filter cannot add App-Id to those calls, and the
# underscore `app_id` header is dropped by most servers. The must-use plugin puts the app id in the base URL instead.
@bp.post("/woocommerce/webhooks/checkout", endpoint="checkout")
@bp.post("/woocommerce/<app_id>/webhooks/checkout", endpoint="checkout")
def checkout(app_id: str | None = None):
    raw = request.get_data(cache=True)
    if _PING.match(raw):
        return jsonify(success=True)
    store = _calling_store(app_id)
    blob = _json_object().get("data")
    if not isinstance(blob, str):
        raise validation_error({"data": ["The plugin's encrypted cart or order, as a string."]})
    payload, snapshot = _open(store, blob)
    if not isinstance(payload, dict):
        raise validation_error({"_schema": ["The decrypted data must be a JSON object."]})
    text.refuse_unstorable(payload)
    head = _load(envelope_in, payloads.envelope(payload))
    if head["cart_type"] == "cart":
        report = _load(cart_in, payloads.cart_report(payload)) if payload.get("line_items") else None
        plugin.record_cart(store, head["cart_token"], report, snapshot, head.get("updated_at"))
    else:
        order = _load(order_in, payloads.order_report(payload))
        placed = plugin.is_placed(order["status"], head.get("completed_at"), head["treat_on_hold_as_complete"])
        cart = None if placed else _load(cart_in, payloads.cart_report(payload, swapped_names=True))
        plugin.record_order(store, order, cart, placed)
    return jsonify(success=True)


@bp.get("/woocommerce/abandoned_checkouts/<cart_token>", endpoint="abandoned_checkout")
@bp.get("/woocommerce/<app_id>/abandoned_checkouts/<cart_token>", endpoint="abandoned_checkout")
def abandoned_checkout(cart_token: str, app_id: str | None = None):
    store = _calling_store(app_id)
    data = plugin.snapshot(store, cart_token) if _token.match(cart_token) else None
    if data is None:
        return jsonify(success=False), 404
    return jsonify(success=True, data=data)


@bp.get("/woocommerce/retainful.js")
def tracking_script():
    """Our tracking script for the plugin's JS engine; shop pages of any origin load it (a classic script: neither
    this response's CSP nor CORS applies to the page; the resource policy says other sites may embed it)."""
    response = send_file(TRACKING_SCRIPT, mimetype="text/javascript", max_age=SCRIPT_MAX_AGE, conditional=True,
                         etag=True)
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    response.headers["Cache-Control"] = f"public, max-age={SCRIPT_MAX_AGE}"
    return response
