"""Creating our coupons in the store's WooCommerce shop, so the codes we email work at its checkout.

Two shop coupon backends, one per store (:func:`backend_for`): the Retainful plugin's coupon endpoint for a store the
plugin connected (coupons/plugin_coupons.py), else WooCommerce's REST API with the store's keys. Both share the queue,
the retries and the sync state below.

The coupon row is the queue (``sync_state`` pending + ``sync_due_at``): a shop that is down or slow gets retried with
exponential backoff; one that refuses the coupon (bad credentials, invalid data) fails at once with a short status
(HTTP status and WooCommerce's error code, never the reply body) for the admin to show. "Code already exists" counts as success: the coupon is in the shop, typically because an
earlier attempt got through but its answer was lost, which makes the sync idempotent.
"""
from __future__ import annotations

import logging
import re
from collections import Counter
from datetime import timedelta, timezone
from decimal import Decimal

import sqlalchemy as sa

from retainful import clock, connections, egress
from retainful.coupons.plugin_coupons import PluginCoupons, shop_url
from retainful.extensions import db
from retainful.models import Coupon, DiscountType, Store, SyncState

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
MAX_ATTEMPTS = 8
FIRST_BACKOFF = timedelta(minutes=1)
MAX_BACKOFF = timedelta(hours=1)
ALREADY_EXISTS = "woocommerce_rest_coupon_code_already_exists"
_ERROR_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")


def _decimal_text(amount: Decimal) -> str:
    """WooCommerce wants amounts as strings: "10", "12.5" (no exponent, no trailing zeros)."""
    return format(amount.normalize(), "f")


def coupon_body(coupon: Coupon) -> dict:
    """The ``POST /wp-json/wc/v3/coupons`` body for one of our coupons."""
    free_shipping = coupon.discount_type == DiscountType.FREE_SHIPPING
    body = {
        "code": coupon.code,
        "discount_type": "percent" if coupon.discount_type == DiscountType.PERCENT else "fixed_cart",
        "amount": "0" if free_shipping else _decimal_text(coupon.amount),
        "date_expires_gmt": coupon.expires_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
        "usage_limit": coupon.usage_limit,
        "individual_use": True,
        "description": f"Retainful {coupon.kind.replace('_', '-')} coupon",
    }
    if free_shipping:
        body["free_shipping"] = True
    if coupon.email:
        body["email_restrictions"] = [coupon.email]
    if coupon.minimum_total is not None:
        body["minimum_amount"] = _decimal_text(coupon.minimum_total)
    return body


class WooRestCoupons:
    """The shop coupon backend of a store connected by its WooCommerce REST keys."""
    connection = connections.WOOCOMMERCE

    @staticmethod
    def send(coupon: Coupon, store: Store, timeout: float) -> egress.ShopReply:
        return egress.request("POST", store.woo_url, "/wp-json/wc/v3/coupons", json_body=coupon_body(coupon),
                              auth=(store.woo_consumer_key, store.woo_consumer_secret), timeout=timeout)

    @staticmethod
    def created(reply: egress.ShopReply) -> tuple[bool, object | None]:
        body = reply.json()
        return (True, body["id"]) if isinstance(body, dict) and body.get("id") else (False, None)

    @staticmethod
    def error_code(body: object) -> object:
        """WooCommerce's error body is ``{"code", "message", "data": {"status"}}``."""
        return body.get("code") if isinstance(body, dict) else None


def backend_for(store: Store) -> type[PluginCoupons] | type[WooRestCoupons] | None:
    """Where the store's coupons are created: through the Retainful plugin once it has connected (it needs no REST
    keys), else through WooCommerce's REST API when the store has keys; None when neither."""
    if shop_url(store) is not None:
        return PluginCoupons
    return WooRestCoupons if store.woo_connected else None


def _error_code(backend, reply: egress.ShopReply) -> str | None:
    """Only a well-formed code is kept: the body is the shop's text, never stored or shown (audit F3)."""
    code = backend.error_code(reply.json())
    return code if isinstance(code, str) and _ERROR_CODE.match(code) else None


def _synced(coupon: Coupon, woo_id: object | None) -> str:
    coupon.sync_state, coupon.synced_at, coupon.sync_error = SyncState.SYNCED, clock.now(), None
    if woo_id is not None:
        coupon.woo_coupon_id = str(woo_id)
    return "synced"


def _failed(coupon: Coupon, reason: str) -> str:
    coupon.sync_state, coupon.sync_error = SyncState.FAILED, reason[:1000]
    return "failed"


def _retry_later(coupon: Coupon, reason: str) -> str:
    coupon.sync_attempts += 1
    if coupon.sync_attempts >= MAX_ATTEMPTS:
        return _failed(coupon, f"gave up after {coupon.sync_attempts} attempts: {reason}")
    coupon.sync_error = reason[:1000]
    coupon.sync_due_at = clock.now() + min(FIRST_BACKOFF * 2 ** (coupon.sync_attempts - 1), MAX_BACKOFF)
    return "retry"


def sync_coupon(coupon: Coupon, store: Store) -> str:
    """Create one coupon in the shop and record the outcome: "synced", "retry" or "failed", with a short status. The
    shop's answer is also the connection's last real result (stores/connections.py), unless it refused the coupon's
    own data (HTTP 400 for anything but the plugin's signature check)."""
    backend = backend_for(store)
    if backend is None:  # disconnected since the coupon was queued
        return _failed(coupon, "the store is not connected to its shop")
    try:
        reply = backend.send(coupon, store, TIMEOUT_SECONDS)
    except egress.ShopError as error:  # timeouts, refused connections: the shop may be back soon
        connections.record(store, backend.connection, connections.shop_error(error))
        return _retry_later(coupon, error.status) if error.transient else _failed(coupon, error.status)
    if reply.status in (200, 201):
        connections.record(store, backend.connection, None)
        created, shop_id = backend.created(reply)
        return _synced(coupon, shop_id) if created else _failed(coupon, f"HTTP {reply.status} without a coupon id")
    code = _error_code(backend, reply)
    if code == ALREADY_EXISTS:
        connections.record(store, backend.connection, None)
        return _synced(coupon, None)
    if reply.status != 400 or code in connections.KEYS_REFUSED_CODES:
        connections.record(store, backend.connection, connections.http_failure(backend.connection, reply.status, code))
    reason = f"HTTP {reply.status} {code}" if code else f"HTTP {reply.status}"
    if reply.status == 429 or reply.status >= 500:
        return _retry_later(coupon, reason)
    if 300 <= reply.status < 400:  # never followed: a redirected POST would not create the coupon
        reason += " (a redirect, not followed: check the shop URL)"
    return _failed(coupon, reason)


def sync_due_coupons(batch_size: int = 100) -> Counter:
    """The ``coupon_sync`` job: due pending coupons of connected stores, each committed as soon as it is known."""
    woo_keys = [sa.func.coalesce(c, "") != "" for c in (Store.woo_url, Store.woo_consumer_key,
                                                         Store.woo_consumer_secret)]
    connected = sa.or_(sa.and_(*woo_keys), Store.retainful_connected_at.is_not(None))
    due = db.session.execute(
        sa.select(Coupon, Store).join(Store, Store.id == Coupon.store_id)
        .where(Coupon.sync_state == SyncState.PENDING, Coupon.sync_due_at <= clock.now(), connected)
        .order_by(Coupon.sync_due_at, Coupon.id).limit(batch_size)
    ).all()
    outcomes: Counter = Counter()
    for coupon, store in due:
        outcome = sync_coupon(coupon, store)
        if outcome != "synced":
            log.warning("coupon %s of store %s: %s (%s)", coupon.id, store.id, outcome, coupon.sync_error)
        db.session.commit()
        outcomes[outcome] += 1
    return outcomes
