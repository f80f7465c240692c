"""What the store's two shop connections last did for real, so a badge never says "connected" for keys nobody checked.

``WOOCOMMERCE`` is the shop's REST API with the store's keys (coupon sync, order pull), ``PLUGIN`` the official
Retainful plugin (it calls us to connect; we call it for coupons and past orders). Every real exchange records its
result on the store (migration 0030): an owner's Test (``orders.woocommerce.check_connection``,
``plugin.history.check_connection``), a coupon sync, an order pull or history import, the plugin's connect call. The
reason is always our words for what happened (DNS, refused, TLS, bad keys, not WooCommerce, timed out, private
address), never the shop's reply.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from retainful import clock, egress
from retainful.models import Store

WOOCOMMERCE, PLUGIN = "woo", "retainful"
MAX_REASON = 300
CHECK_SECONDS = 10  # an owner waits for the Test's answer
KEYS_REFUSED_CODES = {"SECURITY_BREACH"}  # the plugin's answer (HTTP 400) to a digest made with another secret

# egress's short status lines, said for an owner (the others are shown as they are).
SHOP_ERRORS = {
    "host does not resolve": "DNS: the shop's host name does not resolve",
    "connection refused": "the shop's server refused the connection",
    "timed out": "timed out: no answer from the shop in time",
    "TLS certificate not valid for the host": "TLS: the shop's certificate is not valid for its host name",
    "TLS error": "TLS: the secure connection to the shop failed",
    "refused: private address": "refused: the shop's address is private, loopback or reserved (only public shops "
                                "are reached)",
    "refused: not a valid https shop URL": "refused: the shop address is not a valid https URL",
}
NOT_THERE = {WOOCOMMERCE: "not WooCommerce: no WooCommerce REST API at this address (check the shop address)",
             PLUGIN: "no Retainful plugin answers at the shop's address (is the plugin active?)"}
REFUSED_KEYS = {WOOCOMMERCE: "the shop refused the keys (check the consumer key and secret, with read/write access)",
                PLUGIN: "the plugin refused our signature: the Secret Key in the shop is not this store's"}


@dataclass(frozen=True)
class Health:
    """``state``: "ok" (the last exchange worked), "failing" (it did not), "unchecked" (set up, never tried) or
    "off" (not set up)."""
    state: str
    checked_at: datetime | None
    failure: str | None  # the last failure's reason, even when a later exchange worked
    failed_at: datetime | None


def shop_error(error: egress.ShopError) -> str:
    return SHOP_ERRORS.get(error.status, error.status)


def http_failure(connection: str, status: int, code: str | None = None) -> str:
    """A reply's status (and the shop's error code) in words: bad keys, not there, a redirect, the shop's failure."""
    if status in (401, 403) or code in KEYS_REFUSED_CODES:
        return f"HTTP {status}: {REFUSED_KEYS[connection]}"
    if status == 404:
        return f"HTTP 404: {NOT_THERE[connection]}"
    if 300 <= status < 400:
        return f"HTTP {status}: a redirect, not followed (check the shop address: https, www)"
    if status == 429:
        return "HTTP 429: the shop asks us to slow down"
    if status >= 500:
        return f"HTTP {status}: the shop's server failed"
    return f"HTTP {status}: an answer we did not expect"


def describe(connection: str, error: Exception) -> str:
    """A failed exchange in words: egress's ShopError, or an error with the reply's ``status`` (and ``code``)."""
    if isinstance(error, egress.ShopError):
        return shop_error(error)
    status = getattr(error, "status", None)
    return http_failure(connection, status, getattr(error, "code", None)) if isinstance(status, int) else str(error)


def record(store: Store, connection: str, failure: str | None) -> None:
    """The result of a real exchange (``failure`` None: it worked); the caller commits."""
    now = clock.now()
    setattr(store, f"{connection}_checked_at", now)
    setattr(store, f"{connection}_check_ok", failure is None)
    if failure is not None:
        setattr(store, f"{connection}_failure", failure[:MAX_REASON])
        setattr(store, f"{connection}_failed_at", now)


def record_unverified(store: Store, connection: str, failure: str) -> None:
    """A failure anyone could cause (a call we cannot verify, say a connect call not sealed with the store's key:
    the app id is no secret). Kept as the last failure for the owner to read, but it turns the badge red only while
    nothing has worked since the credentials were set; the caller commits."""
    if getattr(store, f"{connection}_check_ok") is True:
        setattr(store, f"{connection}_failure", failure[:MAX_REASON])
        setattr(store, f"{connection}_failed_at", clock.now())
    else:
        record(store, connection, failure)


def forget(store: Store, connection: str) -> None:
    """New credentials (or none): nothing known about them yet."""
    for column in ("checked_at", "check_ok", "failure", "failed_at"):
        setattr(store, f"{connection}_{column}", None)


def set_up(store: Store, connection: str) -> bool:
    return store.woo_connected if connection == WOOCOMMERCE else store.retainful_connected_at is not None


def health(store: Store, connection: str) -> Health:
    ok = getattr(store, f"{connection}_check_ok")
    failure, failed_at = getattr(store, f"{connection}_failure"), getattr(store, f"{connection}_failed_at")
    if ok is None:
        state = "unchecked" if set_up(store, connection) else "off"
    else:
        state = "ok" if ok else "failing"
    return Health(state, getattr(store, f"{connection}_checked_at"), failure, failed_at)
