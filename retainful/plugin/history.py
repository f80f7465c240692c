"""Past orders from a shop running the Retainful plugin, for the before/after report.

After the plugin's connect call, and then daily, the shop's orders are read through the plugin's
``GET <shop>/wp-json/retainful-api/v1/orders?limit&since_id&status=any&digest`` (keyset on the order id; the digest is
the HMAC-SHA256 of PHP's ``json_encode`` of ``{limit, since_id, status}``). A run reads at most ``WOO_PULL_MAX_PAGES``
pages within ``WOO_PULL_SECONDS_PER_STORE`` seconds and keeps its place on the store, so the next run resumes there.

The orders are history only: recorded without cart, customer or attribution (orders/intake.py,
``record_past_order``). The plugin's quirks: an order without a cart token gets a random one on every fetch (so the
token is never used), a cancelled order arrives as ``pending`` without ``completed_at`` (not placed, so skipped), and
``total_price`` with ``presentment_currency`` is the real total (``total_price_set`` can say 1).
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import time
from datetime import timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from flask import current_app
from marshmallow import ValidationError

from retainful import clock, connections, egress, text
from retainful.api.schemas import OrderIn
from retainful.errors import FieldError
from retainful.extensions import db
from retainful.models import Store
from retainful.orders.intake import record_past_order
from retainful.plugin import payloads
from retainful.plugin import crypto
from retainful.plugin.crypto import php_json
from retainful.plugin.intake import is_placed

log = logging.getLogger(__name__)

PATH = "/wp-json/retainful-api/v1/orders"
PAGE_SIZE = 50  # the plugin builds each order's full data per request: small pages answer well within the timeout
REQUEST_SECONDS = 30
EVERY = timedelta(days=1)
AFTER_FAILURE = timedelta(hours=1)
PROBE_SINCE_ID = 2 ** 53  # past any shop's order ids: the Test's signed request reads an empty page
_order_in = OrderIn()


class HistoryOutcome(NamedTuple):
    imported: int  # orders that were new
    finished: bool  # False: stopped early or failed; the store's cursor says where the next run resumes
    error: str | None = None  # a short status (never the shop's reply)


class HistoryError(Exception):
    """The shop answered, but not with a page of orders; the message is ours, never the reply (``status`` and the
    plugin's ``code``, SECURITY_BREACH only, say what the connection's trouble was)."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.code = status, code


def orders_digest(secret: str, limit: int, since_id: int) -> str:
    """``Imports::hashVerification``: HMAC-SHA256 (hex) of ``json_encode({"limit", "since_id", "status": "any"})``."""
    signed = php_json({"limit": limit, "since_id": since_id, "status": "any"})
    return hmac.new(secret.encode("utf-8"), signed.encode("utf-8"), hashlib.sha256).hexdigest()


def _page(store: Store, since_id: int, seconds: float, limit: int | None = None) -> list:
    limit = limit or PAGE_SIZE  # read at the call: tests shrink the page
    params = {"limit": limit, "since_id": since_id, "status": "any",
              "digest": orders_digest(store.retainful_secret_key, limit, since_id)}
    reply = egress.request("GET", store.retainful_shop["domain"], PATH, params=params, timeout=seconds)
    body = reply.json()
    if reply.status != 200 or not isinstance(body, dict) or body.get("success") is not True:
        code = body.get("RESPONSE_CODE") if isinstance(body, dict) else None
        raise HistoryError(f"GET orders after {since_id}: HTTP {reply.status}", reply.status,
                           code if code in connections.KEYS_REFUSED_CODES else None)
    items = body.get("items")
    if not isinstance(items, list) or len(items) > limit:
        raise HistoryError(f"GET orders after {since_id}: not a page of at most {limit} orders")
    return items


def check_connection(store: Store) -> str | None:
    """An owner's Test of the plugin connection: the plugin has called us (its connect call), the App ID and Secret
    Key open each other as the plugin seals them, and the shop's plugin answers a signed request (one page of orders
    past any real id: empty) through egress. The result is recorded on the store; the failure's reason, or None."""
    if store.retainful_connected_at is None or not isinstance((store.retainful_shop or {}).get("domain"), str):
        failure = ("the plugin has not connected yet: install it and enter the App ID and Secret Key shown here "
                   "in its settings")
    elif crypto.open_text(crypto.seal(store.retainful_app_id, store.retainful_secret_key),
                          store.retainful_secret_key) != store.retainful_app_id:
        failure = "the App ID and Secret Key do not pair: rotate the Secret Key (retainful plugin-credentials)"
    else:
        try:
            _page(store, PROBE_SINCE_ID, connections.CHECK_SECONDS, limit=1)
            failure = None
        except (egress.ShopError, HistoryError) as error:
            failure = connections.describe(connections.PLUGIN, error)
    connections.record(store, connections.PLUGIN, failure)
    db.session.commit()
    return failure


def _order_id(item: Any) -> int | None:
    value = item.get("r_order_id") if isinstance(item, dict) else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2 ** 63 else None


def _past_order(item: dict) -> dict | None:
    """The item as an order report if it is a placed order, else None (pending, cancelled, failed...)."""
    text.refuse_unstorable(item)
    order = _order_in.load({**payloads.order_report(item), "cart_token": None, "customer": None})
    placed = is_placed(order["status"], order.get("created_at"), item.get("treat_on_hold_as_complete") is True)
    return order if placed else None


def _record(store: Store, items: list) -> int:
    """A bad item is logged (by order id and field, never its data) and skipped: one must not stall the import."""
    imported = 0
    for item in items:
        try:
            order = _past_order(item) if isinstance(item, dict) else None
        except (FieldError, ValidationError) as error:
            fields = sorted(error.normalized_messages()) if isinstance(error, ValidationError) else [error.field]
            log.warning("store %s: past order %s skipped: %s", store.id, _order_id(item) or "?", ", ".join(fields))
            continue
        if order is not None:
            imported += record_past_order(store, order)
    return imported


def _save(store: Store, since_id: int, due_in: timedelta) -> None:
    store.retainful_history_since_id, store.retainful_history_due_at = since_id, clock.now() + due_in
    db.session.commit()


def import_history(store: Store) -> HistoryOutcome:
    """Read the shop's orders after the store's cursor, page by page, within the run's bounds."""
    config = current_app.config
    max_pages, until = config["WOO_PULL_MAX_PAGES"], time.monotonic() + config["WOO_PULL_SECONDS_PER_STORE"]
    since_id, imported = store.retainful_history_since_id or 0, 0
    for _ in range(max_pages):
        left = until - time.monotonic()  # a duration: clock.now() may be frozen
        if left <= 0:
            break
        try:
            items = _page(store, since_id, min(REQUEST_SECONDS, left))
        except (egress.ShopError, HistoryError) as error:
            db.session.rollback()
            connections.record(store, connections.PLUGIN, connections.describe(connections.PLUGIN, error))
            _save(store, since_id, AFTER_FAILURE)
            return HistoryOutcome(imported, False, str(error))
        imported += _record(store, items)
        ids = [order_id for order_id in map(_order_id, items) if order_id is not None]
        if not ids or max(ids) <= since_id or len(items) < PAGE_SIZE:  # the end (a page that does not advance too)
            connections.record(store, connections.PLUGIN, None)
            _save(store, max([since_id, *ids]), EVERY)
            return HistoryOutcome(imported, True)
        since_id = max(ids)
        _save(store, since_id, timedelta(0))
    _save(store, since_id, timedelta(0))  # bounded: the next run resumes here
    return HistoryOutcome(imported, False)


def import_due_history() -> dict[str, int]:
    """The ``plugin_history`` job: every plugin-connected store whose import is due, one after the other."""
    store_ids = list(db.session.scalars(
        sa.select(Store.id).where(Store.retainful_history_due_at <= clock.now(),
                                  Store.retainful_connected_at.is_not(None))
        .order_by(Store.retainful_history_due_at, Store.id)))
    summary = {"stores": len(store_ids), "imported": 0, "failed": 0, "unfinished": 0}
    for store_id in store_ids:
        store = db.session.get(Store, store_id)
        if not isinstance((store.retainful_shop or {}).get("domain"), str):
            _save(store, store.retainful_history_since_id or 0, EVERY)
            continue
        outcome = import_history(store)
        summary["imported"] += outcome.imported
        if outcome.error:
            log.warning("store %s: history import through the plugin failed: %s", store_id, outcome.error)
        if not outcome.finished:
            summary["failed" if outcome.error else "unfinished"] += 1
    return summary
