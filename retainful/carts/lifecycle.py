"""What happens to a cart when the storefront reports it or the shopper empties it."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from retainful import clock
from retainful.customers import match_customer
from retainful.errors import FieldError
from retainful.extensions import db
from retainful.models import Cart, CartLine, CartStatus, Store
from retainful.messaging.outbox import cancel as cancel_pending

# Built once, so each request reuses their cache keys and compiled SQL instead of constructing the statements anew.
_CART = sa.select(Cart).where(Cart.store_id == sa.bindparam("store_id"), Cart.token == sa.bindparam("token"))
_CART_FOR_UPDATE = _CART.with_for_update()


def get_cart(store: Store, token: str, for_update: bool = False) -> Cart | None:
    """The store's cart with this token; another store's cart is invisible.

    ``for_update`` locks the row (PostgreSQL) so two reports of one cart replace its items one after the other.
    """
    return db.session.scalar(_CART_FOR_UPDATE if for_update else _CART, {"store_id": store.id, "token": token})


def _bare_host(host: str) -> str:
    host = host.lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def check_recovery_url(store: Store, url: str) -> None:
    """A recovery link may only lead to the store's own site (no open redirect through our short links)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a full-width '／' or '＠' in the host, which NFKC would turn into a separator
        raise FieldError("recovery_url", "Must be an http(s) URL.") from None
    host = _bare_host(parts.hostname or "")
    domain = _bare_host(store.domain)
    if parts.scheme not in ("http", "https") or not host:
        raise FieldError("recovery_url", "Must be an http(s) URL.")
    if host != domain and not host.endswith("." + domain):
        raise FieldError("recovery_url", f"Must be on the store's domain ({store.domain}).")


def _retire_token(cart: Cart) -> None:
    """Free a closed cart's token for a new cart, keeping the old one (and its order) for the reports."""
    cart.token = f"{cart.token[:100]}~{cart.id}"


def report_cart(store: Store, token: str, data: dict[str, Any], **columns: Any) -> tuple[Cart, bool]:
    """Create or replace the cart from a storefront report. Returns (cart, created). ``columns`` are written with it
    (the Retainful plugin's snapshot).

    The server's clock stamps the activity; a report makes the cart live again and moves its abandonment deadline.
    A token that belonged to an already ordered cart starts a new cart, so the ordered one stays in the reports.
    """
    if data.get("recovery_url"):
        check_recovery_url(store, data["recovery_url"])
    for attempt in range(2):
        try:
            with db.session.no_autoflush:  # one flush at commit instead of one before every query
                return _report_cart(store, token, data, columns)
        except IntegrityError:  # a concurrent first report of the same token won the insert: replace it instead
            db.session.rollback()
            if attempt:
                raise
    raise AssertionError("unreachable")


def _report_cart(store: Store, token: str, data: dict[str, Any], columns: dict[str, Any]) -> tuple[Cart, bool]:
    now = clock.now()
    customer = match_customer(store, data.get("customer"), source="storefront")
    cart = get_cart(store, token, for_update=True)
    if cart is not None and cart.status in (CartStatus.CONVERTED, CartStatus.RECOVERED):
        _retire_token(cart)
        db.session.flush()
        cart = None
    created = cart is None
    if cart is not None and cart.status == CartStatus.ABANDONED:
        cancel_pending(cart_id=cart.id)  # the shopper is back; the rest is planned anew if they leave again
    lines = [CartLine.stored(item) for item in data["items"]]
    if created:
        cart = Cart(store_id=store.id, token=token, created_at=now)
        db.session.add(cart)
    if customer is not None:
        cart.customer = customer
    cart.currency = data["currency"]
    cart.subtotal = data["subtotal"]
    cart.total = data["total"]
    cart.recovery_url = data.get("recovery_url")
    cart.item_count = sum(line["quantity"] for line in lines)
    if cart.lines != lines:  # an unchanged cart is not rewritten
        cart.lines = lines
    cart.reachable = bool(cart.customer is not None and cart.customer.reachable)
    cart.status = CartStatus.LIVE
    cart.last_activity_at = now
    cart.abandon_due_at = now + store.abandon_after
    cart.closed_at = None
    for name, value in columns.items():
        setattr(cart, name, value)
    db.session.commit()
    return cart, created


def delete_cart(store: Store, cart: Cart) -> None:
    """The shopper emptied the cart: nothing more will be sent for it."""
    if cart.status in (CartStatus.CONVERTED, CartStatus.RECOVERED):
        return  # an ordered cart keeps its outcome; emptying it after checkout is normal
    cancel_pending(cart_id=cart.id)
    cart.status = CartStatus.DELETED
    cart.abandon_due_at = None
    cart.closed_at = clock.now()
    db.session.commit()
