"""A local stand-in for a WooCommerce shop's REST API (wc/v3), for the coupon sync and the order pull.

``WooStub`` is the same threaded server as ``tests.stubs.ProviderStub`` (requests recorded in ``stub.requests`` with
method, path, query, headers incl. Authorization, raw body and parsed JSON; ``stub.queue`` scripts answers first-in
first-out), answering by default like WooCommerce:

* ``POST /wp-json/wc/v3/coupons`` → 201 with the created coupon (``id`` counting from 1001, the posted fields);
* ``GET /wp-json/wc/v3/orders`` → ``stub.orders`` (payloads from :func:`woo_order_payload`), filtered by
  ``modified_after`` (on ``date_modified_gmt``, as with ``dates_are_gmt=true``), paged by ``per_page`` / ``page``,
  with ``X-WP-Total`` and ``X-WP-TotalPages``;
* with ``credentials=(key, secret)``, any other HTTP Basic credentials get WooCommerce's 401 error body.

``RetainfulPluginStub`` is a shop running the official Retainful plugin: its ``retainful-api/v1`` endpoints check the
digest the plugin's way (over PHP's re-encoding of the decoded request) and answer with the plugin's bodies.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import math
import re
import secrets
import socket
import threading
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from tests.stubs import ProviderStub, RecordedRequest

__all__ = ["RetainfulPluginStub", "TricklingShop", "WooStub", "woo_error", "woo_order_payload", "wc_json"]

COUPONS = "/wp-json/wc/v3/coupons"
ORDERS = "/wp-json/wc/v3/orders"
_JSON = {"Content-Type": "application/json; charset=UTF-8"}


def woo_error(code: str, message: str, status: int) -> dict:
    """WooCommerce's REST error body."""
    return {"code": code, "message": message, "data": {"status": status}}


def wc_json(payload: Any) -> bytes:
    """A body as WordPress encodes it (``wp_json_encode``: ASCII-escaped, slashes escaped as ``\\/``)."""
    return json.dumps(payload, separators=(",", ":")).replace("/", "\\/").encode()


def params_of(record: RecordedRequest) -> dict[str, str]:
    return dict(parse_qsl(record.query, keep_blank_values=True))


class WooStub(ProviderStub):
    def __init__(self, orders: list[dict] | None = None, credentials: tuple[str, str] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.orders: list[dict] = list(orders or [])
        self.credentials = credentials
        self._coupon_ids = itertools.count(1001)

    def _default_answer(self, record: RecordedRequest) -> tuple[int, dict, bytes]:
        if self.credentials and record.headers.get("Authorization") != _basic(*self.credentials):
            return 401, _JSON, wc_json(woo_error("woocommerce_rest_authentication_error", "Consumer key is invalid.",
                                                 401))
        if record.method == "POST" and record.path == COUPONS:
            posted = record.json if isinstance(record.json, dict) else {}
            return 201, _JSON, wc_json({**posted, "id": next(self._coupon_ids), "usage_count": 0})
        if record.method == "GET" and record.path == ORDERS:
            return self._orders_page(params_of(record))
        return 404, _JSON, wc_json(woo_error("rest_no_route", "No route was found matching the URL and request "
                                             "method.", 404))

    def _orders_page(self, params: dict[str, str]) -> tuple[int, dict, bytes]:
        orders = self.orders
        if "modified_after" in params:
            after = datetime.fromisoformat(params["modified_after"])
            orders = [o for o in orders if datetime.fromisoformat(o["date_modified_gmt"]) > after]
        per_page, page = int(params.get("per_page", 10)), int(params.get("page", 1))
        headers = {**_JSON, "X-WP-Total": str(len(orders)), "X-WP-TotalPages": str(math.ceil(len(orders) / per_page))}
        return 200, headers, wc_json(orders[(page - 1) * per_page:page * per_page])


PLUGIN_COUPON = "/wp-json/retainful-api/v1/coupon"
PLUGIN_ORDERS = "/wp-json/retainful-api/v1/orders"
_SLUG = re.compile(r"^[-a-z0-9_]+$", re.IGNORECASE)  # Valitron's "slug" rule, which the plugin applies to the code


def _php_reencoded(value: Any) -> str:
    """``json_encode($x, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES)`` of what PHP's ``json_decode`` made of a
    request value: a float with no fraction (``-10.0``) comes back as ``-10``; ``é`` and ``/`` stay as they are."""
    def php(item):
        if isinstance(item, float) and item.is_integer():
            return int(item)
        return {k: php(v) for k, v in item.items()} if isinstance(item, dict) else item
    return json.dumps(php(value), separators=(",", ":"), ensure_ascii=False)


def _hmac_hex(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


class RetainfulPluginStub(ProviderStub):
    """A shop with the Retainful plugin (``CouponManagement::createRestCoupon``, ``Imports::getSyncOrders``):

    * ``POST /wp-json/retainful-api/v1/coupon`` → 200 ``COUPON_CODE_CREATED_OR_UPDATED`` with ``external_price_rule_id``
      (a code seen before keeps its id: the plugin updates it); the coupon as the plugin stores it is in
      ``stub.coupons[code]`` (``coupon_amount`` the absolute value of a negative ``value``, else 0); a wrong digest gets
      400 ``SECURITY_BREACH``, a missing rule or digest 400 ``DATA_MISSING``, an invalid rule 400 with field errors;
    * ``GET /wp-json/retainful-api/v1/orders?limit&since_id&status=any&digest`` → ``{"success", "items"}``: the
      order plaintexts in ``stub.orders`` with ``r_order_id`` above ``since_id``, by id, at most ``limit``; an order
      without a cart token gets a new random one on every fetch, as the plugin does.
    """

    def __init__(self, secret: str, orders: list[dict] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.secret = secret
        self.orders: list[dict] = list(orders or [])
        self.coupons: dict[str, dict] = {}
        self._ids = itertools.count(2001)

    def _default_answer(self, record: RecordedRequest) -> tuple[int, dict, bytes]:
        if record.method == "POST" and record.path == PLUGIN_COUPON:
            return self._coupon(record.json if isinstance(record.json, dict) else {})
        if record.method == "GET" and record.path == PLUGIN_ORDERS:
            return self._orders(params_of(record))
        return 404, _JSON, wc_json(woo_error("rest_no_route", "No route was found matching the URL and request "
                                             "method.", 404))

    @staticmethod
    def _refused(code: str, message: str) -> tuple[int, dict, bytes]:
        return 400, _JSON, wc_json({"success": False, "RESPONSE_CODE": code, "message": message})

    def _coupon(self, params: dict) -> tuple[int, dict, bytes]:
        rule, digest = params.get("discount_rule"), params.get("digest")
        if not isinstance(rule, dict) or not rule or not isinstance(digest, str) or not digest:
            return self._refused("DATA_MISSING", "Invalid data!")
        signed = {key: rule.get(key, "") for key in ("value_type", "value", "coupon_code")}
        if not hmac.compare_digest(_hmac_hex(self.secret, _php_reencoded(signed)), digest):
            return self._refused("SECURITY_BREACH", "Security breached!")
        rule = {"usage_limit": 1, "value_type": "percentage", "value": 0, "target_type": "line_item",
                "prerequisite_subtotal_range": {"greater_than_or_equal_to": 0}, **rule}
        errors = {}
        if not isinstance(rule.get("coupon_code"), str) or not _SLUG.match(rule["coupon_code"]):
            errors["coupon_code"] = ["Coupon Code must contain only letters a-z, numbers 0-9, dashes and underscores"]
        if rule["value_type"] not in ("percentage", "fixed_amount"):
            errors["value_type"] = ["Value Type contains invalid value"]
        if isinstance(rule["value"], bool) or not isinstance(rule["value"], (int, float)):
            errors["value"] = ["Value must be numeric"]
        if errors:
            return 400, _JSON, wc_json(errors)
        code = rule["coupon_code"]
        known = self.coupons.get(code.upper())
        self.coupons[code.upper()] = {
            "id": known["id"] if known else next(self._ids), "code": code,
            "discount_type": "fixed_cart" if rule["value_type"] == "fixed_amount" else "percent",
            "free_shipping": "yes" if rule["target_type"] == "shipping_line" else "no",
            "coupon_amount": -rule["value"] if rule["value"] < 0 else 0,
            "minimum_amount": rule["prerequisite_subtotal_range"].get("greater_than_or_equal_to") or None,
            "usage_limit": rule["usage_limit"], "customer_email": rule.get("customer_email"),
            "expiry_date": rule.get("ends_at"),
        }
        return 200, _JSON, wc_json({"success": True, "RESPONSE_CODE": "COUPON_CODE_CREATED_OR_UPDATED",
                                    "external_price_rule_id": self.coupons[code.upper()]["id"], "code": code})

    def _orders(self, params: dict[str, str]) -> tuple[int, dict, bytes]:
        try:
            limit, since_id = int(params.get("limit", 10)), int(params.get("since_id", 0))
        except ValueError:
            return self._refused("DATA_MISSING", "Invalid data!")
        status, digest = params.get("status", "any"), params.get("digest", "")
        if not digest or not limit or since_id < 0 or status != "any":
            return self._refused("DATA_MISSING", "Invalid data!")
        signed = json.dumps({"limit": limit, "since_id": since_id, "status": status}, separators=(",", ":"))
        if not hmac.compare_digest(_hmac_hex(self.secret, signed), digest):
            return self._refused("SECURITY_BREACH", "Security validation failed")
        page = sorted((o for o in self.orders if int(o["r_order_id"]) > since_id), key=lambda o: int(o["r_order_id"]))
        items = [order if order.get("cart_token") else {**order, **dict.fromkeys(
            ("id", "token", "cart_token"), secrets.token_hex(16))} for order in page[:limit]]
        return 200, _JSON, wc_json({"success": True, "RESPONSE_CODE": "Ok", "items": items})


def _basic(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


def woo_order_payload(cart_token: str | None = "cart-1", **overrides) -> dict:
    """A WooCommerce REST v3 order as webhooks and ``GET /orders`` deliver it: money as strings, ``*_gmt`` dates in UTC
    without an offset (the others in the shop's zone, New York here), a guest (``customer_id`` 0), one coupon, and our
    cart token in the order meta. Keyword arguments replace top-level fields."""
    order = {
        "id": 727, "parent_id": 0, "number": "727", "order_key": "wc_order_58d2d042d1d", "created_via": "checkout",
        "version": "8.6.1", "status": "processing", "currency": "USD",
        "date_created": "2026-03-02T03:55:00", "date_created_gmt": "2026-03-02T08:55:00",
        "date_modified": "2026-03-02T03:56:10", "date_modified_gmt": "2026-03-02T08:56:10",
        "discount_total": "3.30", "discount_tax": "0.00", "shipping_total": "5.00", "shipping_tax": "0.00",
        "cart_tax": "0.00", "total": "34.70", "total_tax": "0.00", "prices_include_tax": False,
        "customer_id": 0, "customer_ip_address": "203.0.113.7", "customer_user_agent": "Mozilla/5.0",
        "customer_note": "",
        "billing": {"first_name": "Alice", "last_name": "Doe", "company": "", "address_1": "1 Main St",
                    "address_2": "", "city": "New York", "state": "NY", "postcode": "10001", "country": "US",
                    "email": "alice@example.com", "phone": "(212) 736-5000"},
        "shipping": {"first_name": "Alice", "last_name": "Doe", "company": "", "address_1": "1 Main St",
                     "address_2": "", "city": "New York", "state": "NY", "postcode": "10001", "country": "US"},
        "payment_method": "stripe", "payment_method_title": "Credit card", "transaction_id": "ch_3Ox",
        "date_paid": "2026-03-02T03:55:30", "date_paid_gmt": "2026-03-02T08:55:30",
        "date_completed": None, "date_completed_gmt": None, "cart_hash": "2a2b9c1e4d6f8a0b",
        "meta_data": [{"id": 9001, "key": "_wc_order_attribution_source_type", "value": "typein"}],
        "line_items": [
            {"id": 315, "name": "Red mug", "product_id": 101, "variation_id": 0, "quantity": 2, "tax_class": "",
             "subtotal": "25.00", "subtotal_tax": "0.00", "total": "22.50", "total_tax": "0.00", "taxes": [],
             "meta_data": [], "sku": "MUG-RED", "price": 11.25},
            {"id": 316, "name": "Tea sampler", "product_id": 102, "variation_id": 7, "quantity": 1,
             "tax_class": "", "subtotal": "8.00", "subtotal_tax": "0.00", "total": "7.20", "total_tax": "0.00",
             "taxes": [], "meta_data": [], "sku": "", "price": 7.2},
        ],
        "tax_lines": [], "fee_lines": [],
        "shipping_lines": [{"id": 317, "method_title": "Flat rate", "method_id": "flat_rate", "total": "5.00",
                            "total_tax": "0.00", "taxes": [], "meta_data": []}],
        "coupon_lines": [{"id": 318, "code": "save10", "discount": "3.30", "discount_tax": "0.00",
                          "meta_data": []}],
        "refunds": [],
    }
    if cart_token is not None:
        order["meta_data"].append({"id": 9002, "key": "_retainful_cart_token", "value": cart_token})
    order.update(overrides)
    return order


class TricklingShop:
    """A hostile shop on 127.0.0.1: it answers every request one byte every ``interval`` seconds, forever (the
    headers, or after complete headers the body), so only a deadline on the whole exchange ends the request."""

    def __init__(self, interval: float = 0.05, headers_complete: bool = True):
        self.interval, self.stopped = interval, threading.Event()
        self.prefix = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-WP-TotalPages: 1\r\n"
        if headers_complete:
            self.prefix += b"Content-Length: 100000000\r\n\r\n["
        self.requests = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "TricklingShop":
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self._server.close()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self.requests += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                filler = itertools.chain(self.prefix, itertools.repeat(ord("x" if self.prefix.endswith(b"[")
                                                                           else " ")))
                for byte in filler:
                    if self.stopped.wait(self.interval):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:
                return
