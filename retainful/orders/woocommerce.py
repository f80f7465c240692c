"""WooCommerce orders: the REST v3 order payload mapped onto order intake, webhook signatures, and the periodic pull.

Webhooks are the fast path, but WooCommerce never retries a failed delivery and disables a webhook after a few
failures, so a missed "order placed" would let recovery messages go out after the purchase. The pull of recently
modified orders closes that gap; both paths feed the same idempotent intake, so an order seen twice is recorded once.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import html
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

import sqlalchemy as sa
from babel.numbers import list_currencies
from flask import Flask, current_app
from sqlalchemy.exc import DataError, IntegrityError

from retainful import clock, connections, egress
from retainful.customers import ContactError
from retainful.errors import FieldError
from retainful.extensions import db
from retainful.messaging.webhooks import deliveries
from retainful.models import Order, Store
from retainful.money import MAX_AMOUNT, MONEY_STEP
from retainful.orders import tracking
from retainful.orders.intake import get_order, record_order

log = logging.getLogger(__name__)

# Order meta naming the cart: our storefront plugin's keys, and the official Retainful plugin's (purchaseComplete()).
CART_TOKEN_KEYS = ("_retainful_cart_token", "retainful_cart_token", "_rnoc_user_cart_token")
# Block checkout creates a "checkout-draft" order as soon as the shopper reaches checkout: that is a cart being
# abandoned, not a purchase, and closing the cart on it would stop recovery exactly when it matters.
NOT_PLACED = frozenset({"checkout-draft", "draft", "auto-draft"})
WOO_TIMEOUT_SECONDS = 10
PULL_OVERLAP = timedelta(minutes=5)  # re-read the edge of the last window: clocks and slow commits drift
FIRST_PULL = timedelta(hours=24)
PAGE_SIZE = 100  # WooCommerce's maximum per_page
_TOKEN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # the API's cart token rule
_CURRENCIES = frozenset(list_currencies())
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # PostgreSQL text refuses NUL; UTF-8 has no lone surrogates
# order.restored (out of the trash) carries the whole order like an update; order.deleted only its id.
ORDER_TOPICS = ("order.created", "order.updated", "order.restored", "order.deleted")
WEBHOOK_SOURCE = "woocommerce"
DELIVERY_RETENTION = timedelta(days=7)  # WooCommerce never redelivers on its own; a week covers manual resends
_DELIVERY_ID = re.compile(r"^[\x21-\x7e]{1,128}$")  # wp_hash(): 32 hex characters; anything odd is not remembered


class WooApiError(Exception):
    """The shop's REST API answered something other than what we asked for (``status``: the reply's, if that was
    what was wrong)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def verify_signature(secret: str, body: bytes, signature: str | None) -> bool:
    """``X-WC-Webhook-Signature`` = base64(HMAC-SHA256(raw body, secret)), compared in constant time.

    WooCommerce decodes HTML entities in the stored secret before signing (``wp_specialchars_decode``), so a secret
    typed with ``&`` into its admin form still verifies.
    """
    if not secret or not signature:
        return False
    digest = hmac.new(html.unescape(secret).encode("utf-8"), body, hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(digest), signature.strip().encode("utf-8"))


def _text(value: Any, max_length: int | None = None) -> str | None:
    """WooCommerce sends "" for blank fields; they mean "not given". Over-long free text is cut to the column; text
    no database column can hold (a NUL, a lone surrogate) is not given either."""
    if not isinstance(value, str) or not value.strip() or _UNSTORABLE.search(value):
        return None
    return value.strip()[:max_length] if max_length else value.strip()


def _amount(value: Any, field: str, sign: int = 1) -> Decimal:
    """A money string (or number) of the given sign: refunds are listed with negative totals ("-5.00")."""
    if value is None or isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise FieldError(field, "Missing or not an amount: not an order.")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value) * sign
    except (InvalidOperation, ValueError):
        raise FieldError(field, "Not a valid amount.") from None
    if not amount.is_finite() or not Decimal(0) <= amount <= MAX_AMOUNT:
        raise FieldError(field, "Not a valid amount.")
    return amount.quantize(MONEY_STEP) + 0  # + 0: "-0" is 0


def _refunded(payload: dict) -> Decimal | None:
    """The sum of the order's refunds (REST v3 ``refunds``: ``[{"id", "reason", "total": "-5.00"}]``); None when the
    payload has no such list, which leaves the stored figure as it was."""
    refunds = payload.get("refunds")
    if refunds is None:
        return None
    if not isinstance(refunds, list):
        raise FieldError("refunds", "Not a list.")
    total = Decimal(0)
    for index, refund in enumerate(refunds):
        value = refund.get("total") if isinstance(refund, dict) else None
        total += _amount(value, f"refunds.{index}.total", sign=-1)
    return total


def _order_id(payload: dict) -> str:
    value = payload.get("id")
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip():
        raise FieldError("id", "Missing: not an order.")
    order_id = str(value).strip()
    if len(order_id) > 64:
        raise FieldError("id", "At most 64 characters.")
    if _UNSTORABLE.search(order_id):
        raise FieldError("id", "Contains a NUL character or a lone surrogate.")
    return order_id


def _currency(payload: dict) -> str:
    value = payload.get("currency")
    code = value.strip().upper() if isinstance(value, str) else None
    if code not in _CURRENCIES:
        raise FieldError("currency", "Missing or not an ISO 4217 currency code.")
    return code


def _status(payload: dict) -> str:
    value = payload.get("status", "pending")  # WooCommerce's default status
    status = value.strip().lower().removeprefix("wc-") if isinstance(value, str) else ""
    if not 1 <= len(status) <= 32:
        raise FieldError("status", "Between 1 and 32 characters.")
    if _UNSTORABLE.search(status):
        raise FieldError("status", "Contains a NUL character or a lone surrogate.")
    return status


def _utc(value: Any, field: str) -> datetime | None:
    """``*_gmt`` dates come as ``YYYY-MM-DDTHH:MM:SS`` without an offset: they are UTC."""
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)
    except (TypeError, ValueError):
        raise FieldError(field, "Not an ISO 8601 date.") from None
    except OverflowError:  # 0001-01-01T00:00+05:00 or 9999-12-31T23:00-05:00: no UTC time in datetime's range
        raise FieldError(field, "Out of the range of dates.") from None


def _customer(payload: dict) -> dict[str, Any]:
    billing = payload.get("billing") if isinstance(payload.get("billing"), dict) else {}
    customer_id = payload.get("customer_id")  # 0 for a guest
    registered = isinstance(customer_id, (int, str)) and not isinstance(customer_id, bool) and \
        str(customer_id).strip() not in ("", "0") and len(str(customer_id)) <= 64
    email = _text(billing.get("email"))
    return {
        "email": email if email and len(email) <= 254 else None,
        "phone": _text(billing.get("phone")),  # never cut: a shortened number is someone else's (intake checks it)
        "first_name": _text(billing.get("first_name"), 100),
        "last_name": _text(billing.get("last_name"), 100),
        "external_id": str(customer_id).strip() if registered else None,
    }


def _coupon_codes(payload: dict) -> list[str]:
    lines = payload.get("coupon_lines") or []
    if not isinstance(lines, list):
        raise FieldError("coupon_lines", "Not a list.")
    return [code for line in lines if isinstance(line, dict) and (code := _text(line.get("code")))]


def _cart_token(payload: dict) -> str | None:
    """Our cart token from the order meta; a malformed one is ignored (the intake then matches by customer)."""
    meta = payload.get("meta_data")
    for entry in meta if isinstance(meta, list) else []:
        if isinstance(entry, dict) and entry.get("key") in CART_TOKEN_KEYS:
            value = entry.get("value")
            if isinstance(value, str) and _TOKEN.match(value.strip()):
                return value.strip()
    return None


def order_data_from_woo(payload: dict) -> dict[str, Any]:
    """Map a WooCommerce REST v3 order (webhook body or ``GET /orders`` item) to the intake's ``data`` dict.

    Raises FieldError, naming the WooCommerce field, for a payload that cannot be an order.
    """
    if not isinstance(payload, dict):
        raise FieldError("_schema", "An order must be a JSON object.")
    return {
        "order_id": _order_id(payload),
        "cart_token": _cart_token(payload),
        "customer": _customer(payload),
        "total": _amount(payload.get("total"), "total"),
        "currency": _currency(payload),
        "status": _status(payload),
        "coupon_codes": _coupon_codes(payload),
        "created_at": _utc(payload.get("date_created_gmt"), "date_created_gmt"),
        "modified_at": _utc(payload.get("date_modified_gmt"), "date_modified_gmt"),
        "completed_at": _utc(payload.get("date_completed_gmt"), "date_completed_gmt"),
        "refunded": _refunded(payload),
        "tracking": tracking.from_woo_meta(payload.get("meta_data")),
    }


def record_woo_order(store: Store, payload: dict) -> tuple[Order, bool] | None:
    """Record a WooCommerce order through the intake; None for a draft that is not an order yet.

    Billing phones are free text in WooCommerce: an unusable phone or email is dropped (and logged) rather than
    refusing the order, because a lost order means recovery messages after the purchase.
    """
    data = order_data_from_woo(payload)
    if data["status"] in NOT_PLACED:
        return None
    while True:
        try:
            return record_order(store, data)
        except ContactError as error:
            db.session.rollback()
            if not data["customer"].get(error.field):
                raise
            log.warning("store %s order %s: unusable billing %s dropped", store.id, data["order_id"], error.field)
            data["customer"] = {**data["customer"], error.field: None}


@dataclass(frozen=True)
class Received:
    """What a webhook delivery did: the order it recorded or updated, else why it was ignored."""
    order: Order | None
    created: bool = False
    ignored: str | None = None


def receive_webhook(store: Store, topic: str, delivery_id: str | None, payload: dict) -> Received:
    """One signed order delivery (``ORDER_TOPICS``). A delivery id already acted on changes nothing (WooCommerce signs
    only the body, so the id is a guard against repeats, not forgeries: the order's modification time is that)."""
    key = f"{store.id}:{delivery_id}" if delivery_id and _DELIVERY_ID.match(delivery_id) else None
    if key and deliveries.already_seen(WEBHOOK_SOURCE, [key]):
        return Received(None, ignored="A repeated delivery (X-WC-Webhook-Delivery-ID).")
    if topic == "order.deleted":
        order = void_order(store, _order_id(payload))
        received = Received(order, ignored=None if order else "No such order.")
    else:
        result = record_woo_order(store, payload)
        received = Received(*result) if result else Received(None, ignored="The order is a draft, not placed yet.")
    if key:
        deliveries.remember(WEBHOOK_SOURCE, [key], DELIVERY_RETENTION)
        db.session.commit()
    return received


def void_order(store: Store, order_id: str) -> Order | None:
    """The shop trashed or deleted the order (``order.deleted`` carries only its id): it brings no revenue. Its
    modification time becomes now, so an older delivery cannot bring it back; a later restore (a newer update) can."""
    order = get_order(store, order_id)
    if order is None:
        return None
    now = clock.now()
    order.status, order.updated_at = "trash", now
    order.shop_modified_at = max(order.shop_modified_at or now, now)
    db.session.commit()
    return order


def _iso_utc(moment: datetime) -> str:
    """WooCommerce's own date format: UTC without an offset (read as UTC with ``dates_are_gmt=true``)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _total_pages(reply: egress.ShopReply) -> int:
    value = reply.headers.get("X-WP-TotalPages") or "1"
    if not value.isascii() or not value.isdigit() or len(value) > 12:
        raise WooApiError("X-WP-TotalPages is not a page count")  # the value is the shop's text: not echoed
    return int(value)


class PullOutcome(NamedTuple):
    recorded: int  # orders that were new
    finished: bool  # False: stopped early; the store's cursor says where the next run resumes
    error: str | None = None  # the short status of the shop's failure (never its reply)


def _orders_page(store: Store, params: dict, page: int, seconds: float) -> tuple[list, int]:
    """One page of ``GET /orders`` and the page count the shop claims. Only short statuses go into errors."""
    reply = egress.request("GET", store.woo_url, "/wp-json/wc/v3/orders", params={**params, "page": page},
                           auth=(store.woo_consumer_key, store.woo_consumer_secret), timeout=seconds)
    if reply.status != 200:
        raise WooApiError(f"GET orders page {page}: HTTP {reply.status}", reply.status)
    orders = reply.json()
    if not isinstance(orders, list):
        raise WooApiError(f"GET orders page {page}: not a JSON list")
    return orders, _total_pages(reply)


def _record_page(store: Store, store_id: int, orders: list) -> int:
    """A bad order is logged and skipped: one poison order must not stall the store's pull forever."""
    recorded = 0
    for payload in orders:
        try:
            result = record_woo_order(store, payload)
        except (FieldError, DataError, IntegrityError) as error:
            db.session.rollback()
            # Only our words: the shop's text could be anything, and a database error quotes the customer's data.
            order_id = payload.get("id") if isinstance(payload, dict) else None
            log.warning("store %s: order %s skipped: %s", store_id,
                        str(order_id)[:64] if isinstance(order_id, (int, str)) else "?",
                        f"{error.field}: {error.message}" if isinstance(error, FieldError) else type(error).__name__)
            continue
        recorded += bool(result and result[1])
    return recorded


def _save_cursor(store: Store, since: datetime | None, page: int | None) -> None:
    store.woo_pull_cursor_after, store.woo_pull_cursor_page = since, page
    db.session.commit()


def pull_orders(store: Store) -> PullOutcome:
    """Record the shop's orders modified since the last pull (a window overlapping the previous one).

    At most ``WOO_PULL_MAX_PAGES`` pages and ``WOO_PULL_SECONDS_PER_STORE`` seconds per run (audit F4: a shop's
    ``X-WP-TotalPages`` or a trickling reply must not hold the job): a window cut short saves a cursor and the next run
    resumes it, re-reading its last page because orders modified meanwhile move to the end and shift the rest back.
    A failure of the shop's API keeps the pages already read, and the pull time where it was."""
    config = current_app.config
    max_pages, until = config["WOO_PULL_MAX_PAGES"], time.monotonic() + config["WOO_PULL_SECONDS_PER_STORE"]
    started = clock.now()
    if store.woo_pull_cursor_after is not None:
        since, first = store.woo_pull_cursor_after, store.woo_pull_cursor_page or 1
    else:
        since = store.woo_orders_pulled_at - PULL_OVERLAP if store.woo_orders_pulled_at else started - FIRST_PULL
        first = 1
    params = {"modified_after": _iso_utc(since), "dates_are_gmt": "true", "per_page": PAGE_SIZE,
              "orderby": "modified", "order": "asc"}
    store_id, recorded, page, pages = store.id, 0, first, first
    while page <= pages:
        left = until - time.monotonic()  # a duration (clock.now() may be frozen)
        if page - first >= max_pages or left <= 0:
            _save_cursor(store, since, page - 1 if page - 1 > first else page)
            return PullOutcome(recorded, False)
        try:
            orders, pages = _orders_page(store, params, page, min(WOO_TIMEOUT_SECONDS, left))
        except (egress.ShopError, WooApiError) as error:
            db.session.rollback()
            connections.record(store, connections.WOOCOMMERCE, connections.describe(connections.WOOCOMMERCE, error))
            if page > first:
                _save_cursor(store, since, page)
            db.session.commit()
            return PullOutcome(recorded, False, str(error))
        if not orders:  # past the last order, whatever the header claims
            break
        recorded += _record_page(store, store_id, orders)
        page += 1
    store.woo_orders_pulled_at = started
    connections.record(store, connections.WOOCOMMERCE, None)
    _save_cursor(store, None, None)
    return PullOutcome(recorded, True)


def check_connection(store: Store) -> str | None:
    """An owner's Test: the cheapest authenticated call of the REST API (one order's id) with the stored keys, its
    result recorded on the store. The failure's reason in words, or None when the shop answered as WooCommerce."""
    try:
        reply = egress.request("GET", store.woo_url or "", "/wp-json/wc/v3/orders",
                               params={"per_page": 1, "_fields": "id"},
                               auth=(store.woo_consumer_key or "", store.woo_consumer_secret or ""),
                               timeout=connections.CHECK_SECONDS)
    except egress.ShopError as error:
        failure = connections.shop_error(error)
    else:
        if reply.status != 200:
            failure = connections.http_failure(connections.WOOCOMMERCE, reply.status)
        elif not isinstance(reply.json(), list):
            failure = "the address answered, but not as WooCommerce's REST API does (check the shop address)"
        else:
            failure = None
    connections.record(store, connections.WOOCOMMERCE, failure)
    db.session.commit()
    return failure


def _connected_store_ids() -> list[int]:
    """Most recently completed pull first: a shop that keeps failing or never finishes goes to the back of the queue,
    so it cannot take the pool's first slots every run."""
    columns = (Store.woo_url, Store.woo_consumer_key, Store.woo_consumer_secret)
    return list(db.session.scalars(sa.select(Store.id).where(*(sa.func.coalesce(c, "") != "" for c in columns))
                                   .order_by(Store.woo_orders_pulled_at.desc().nulls_last(), Store.id)))


def _pull_store(app: Flask, store_id: int) -> PullOutcome:
    """One store's pull in its own app context (a pool thread)."""
    with app.app_context():
        try:
            outcome = pull_orders(db.session.get(Store, store_id))
        finally:
            db.session.remove()
    if outcome.error:
        log.warning("store %s: WooCommerce order pull failed: %s", store_id, outcome.error)
    return outcome


def pull_all_orders() -> dict[str, int]:
    """The ``woo_order_pull`` job: connected stores pulled ``WOO_PULL_CONCURRENCY`` at a time, each within its own
    time budget, so a slow or hostile shop holds one thread for a bounded time and never the others' pulls."""
    app = current_app._get_current_object()
    store_ids = _connected_store_ids()
    db.session.remove()  # nothing held open while the pool writes
    summary = {"stores": len(store_ids), "recorded": 0, "failed": 0, "unfinished": 0}
    with ThreadPoolExecutor(max(1, min(app.config["WOO_PULL_CONCURRENCY"], len(store_ids))),
                            thread_name_prefix="woo-pull") as pool:
        for outcome in pool.map(functools.partial(_pull_store, app), store_ids):
            summary["recorded"] += outcome.recorded
            if not outcome.finished:
                summary["failed" if outcome.error else "unfinished"] += 1
    return summary
