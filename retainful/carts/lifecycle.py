"""What happens to a cart when the storefront reports it or the shopper empties it."""
from __future__ import annotations

from decimal import Decimal
from operator import attrgetter
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from retainful import clock
from retainful.customers import match_customer
from retainful.errors import FieldError
from retainful.extensions import db
from retainful.models import Cart, CartItem, CartStatus, Store
from retainful.recovery import cancel_pending

ITEM_FIELDS = ("product_id", "variant_id", "sku", "name", "quantity", "price", "image_url", "product_url")

# Built once, so each request reuses their cache keys and compiled SQL instead of constructing the statements anew.
_CART = sa.select(Cart).where(Cart.store_id == sa.bindparam("store_id"), Cart.token == sa.bindparam("token"))
_CART_FOR_UPDATE = _CART.with_for_update()
# A plain DELETE on the table, cheaper than the ORM's bulk delete, which first matches the statement against the
# objects in the session: the only old lines a report can have loaded are the cart's, and those are expunged.
_DELETE_ITEMS = sa.delete(CartItem.__table__).where(CartItem.__table__.c.cart_id == sa.bindparam("cart_id"))
# One multi-row INSERT returning the new lines; NULLs are rendered so that lines with and without optional fields still
# share one statement. The lines are put in order by position afterwards, which costs less than having the statement
# sort its RETURNING rows by a sentinel.
_INSERT_ITEMS = sa.insert(CartItem).returning(CartItem).execution_options(render_nulls=True)
_BY_POSITION = attrgetter("position")


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
    parts = urlsplit(url)
    host = _bare_host(parts.hostname or "")
    domain = _bare_host(store.domain)
    if parts.scheme not in ("http", "https") or not host:
        raise FieldError("recovery_url", "Must be an http(s) URL.")
    if host != domain and not host.endswith("." + domain):
        raise FieldError("recovery_url", f"Must be on the store's domain ({store.domain}).")


def _retire_token(cart: Cart) -> None:
    """Free a closed cart's token for a new cart, keeping the old one (and its order) for the reports."""
    cart.token = f"{cart.token[:100]}~{cart.id}"


def _same_items(cart: Cart, items: list[dict[str, Any]], item_count: int, subtotal: Decimal) -> bool:
    """Whether a report repeats the cart's stored lines.

    The stored count and subtotal are compared first, so the lines are only read when the cart probably did not change.
    """
    if cart.item_count != item_count or cart.subtotal != subtotal:
        return False
    stored = [tuple(getattr(line, field) for field in ITEM_FIELDS) for line in cart.items]
    return stored == [tuple(item.get(field) for field in ITEM_FIELDS) for item in items]


def _replace_items(cart: Cart, items: list[dict[str, Any]], created: bool) -> None:
    """Replace the cart's lines with one DELETE and one INSERT, bypassing the unit of work's per-object bookkeeping."""
    if created:
        db.session.flush()  # the new cart's id, for its lines
    else:  # one DELETE for the old lines instead of loading them to delete one by one
        db.session.execute(_DELETE_ITEMS, {"cart_id": cart.id})
        for line in sa.inspect(cart).dict.get("items", ()):  # lines already loaded are gone from the database now
            db.session.expunge(line)
    rows = [
        {"cart_id": cart.id, "position": position, **{field: item.get(field) for field in ITEM_FIELDS}}
        for position, item in enumerate(items)
    ]
    lines = sorted(db.session.scalars(_INSERT_ITEMS, rows), key=_BY_POSITION)
    for line in lines:  # both sides of the relationship, as the unit of work would have set them
        set_committed_value(line, "cart", cart)
    set_committed_value(cart, "items", lines)


def report_cart(store: Store, token: str, data: dict[str, Any]) -> tuple[Cart, bool]:
    """Create or replace the cart from a storefront report. Returns (cart, created).

    The server's clock stamps the activity; a report makes the cart live again and moves its abandonment deadline.
    A token that belonged to an already ordered cart starts a new cart, so the ordered one stays in the reports.
    """
    if data.get("recovery_url"):
        check_recovery_url(store, data["recovery_url"])
    for attempt in range(2):
        try:
            with db.session.no_autoflush:  # one flush at commit instead of one before every query
                return _report_cart(store, token, data)
        except IntegrityError:  # a concurrent first report of the same token won the insert: replace it instead
            db.session.rollback()
            if attempt:
                raise
    raise AssertionError("unreachable")


def _report_cart(store: Store, token: str, data: dict[str, Any]) -> tuple[Cart, bool]:
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
    items = data["items"]
    item_count = sum(item["quantity"] for item in items)
    same_items = not created and _same_items(cart, items, item_count, data["subtotal"])
    if created:
        cart = Cart(store_id=store.id, token=token, created_at=now)
        db.session.add(cart)
    if customer is not None:
        cart.customer = customer
    cart.currency = data["currency"]
    cart.subtotal = data["subtotal"]
    cart.total = data["total"]
    cart.recovery_url = data.get("recovery_url")
    cart.item_count = item_count
    cart.reachable = bool(cart.customer is not None and cart.customer.reachable)
    cart.status = CartStatus.LIVE
    cart.last_activity_at = now
    cart.abandon_due_at = now + store.abandon_after
    cart.closed_at = None
    if not same_items:
        _replace_items(cart, items, created)
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
