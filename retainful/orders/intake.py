"""Order intake: record an order once, close the cart it came from, remember when the customer last bought."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from retainful import clock
from retainful.carts import get_cart
from retainful.customers import match_customer
from retainful.automations import order_recorded
from retainful.extensions import db
from retainful.models import Cart, CartStatus, Customer, Order, Store
from retainful.orders import tracking
from retainful.orders.attribution import attribute, credit_automation
from retainful.messaging.outbox import cancel as cancel_pending


# A failed or cancelled payment is not a purchase: the cart stays open and recovery goes on.
NOT_CLOSING = frozenset({"failed", "cancelled"})
COMPLETED = "completed"  # WooCommerce's "shipped / fulfilled"


def get_order(store: Store, external_id: str) -> Order | None:
    return db.session.scalar(sa.select(Order).where(Order.store_id == store.id, Order.external_id == external_id))


def _latest_open_cart(customer: Customer) -> Cart | None:
    """The customer's most recent cart an order could close (a lost cart can still be recovered in the window)."""
    return db.session.scalar(
        sa.select(Cart)
        .where(Cart.customer_id == customer.id, Cart.status.in_((*CartStatus.OPEN, CartStatus.LOST)))
        .order_by(Cart.last_activity_at.desc())
        .limit(1)
    )


def record_order(store: Store, data: dict[str, Any]) -> tuple[Order, bool]:
    """Record an order; a repeat of the same order id changes nothing but its status and refunds, and only when it is
    not older than what is stored (optional ``modified_at``, the shop's time). Returns (order, created).

    The order closes its cart (by token, else the customer's latest open cart) as recovered or converted, cancels the
    cart's pending messages, and may earn the customer a next-order coupon.
    """
    existing = get_order(store, data["order_id"])
    if existing is not None:
        return _update(store, existing, data), False
    now = clock.now()
    customer = match_customer(store, data.get("customer"), source="order")
    cart = get_cart(store, data["cart_token"]) if data.get("cart_token") else None
    if cart is None and customer is not None:
        cart = _latest_open_cart(customer)
    if customer is None and cart is not None:
        customer = cart.customer
    order = Order(
        store_id=store.id,
        external_id=data["order_id"],
        cart=cart,
        customer=customer,
        total=data["total"],
        currency=data["currency"],
        status=data["status"],
        coupon_codes=[code.upper() for code in data.get("coupon_codes") or []],
        placed_at=data.get("created_at") or now,
        received_at=now,
        shop_modified_at=data.get("modified_at"),
        refunded=min(data.get("refunded") or Decimal(0), data["total"]),
        completed_at=_completed_at(data, now) if data["status"] == COMPLETED else None,
        tracking=tracking.stored(data.get("tracking")),
        lines=order_lines(data.get("items"), cart),
    )
    db.session.add(order)
    if cart is not None and order.status not in NOT_CLOSING:
        _close_cart(order, cart, customer, store, now)
    credit_automation(order, customer, store)  # not recovered by its cart: maybe won back
    if customer is not None and (customer.last_order_at is None or customer.last_order_at < order.placed_at):
        customer.last_order_at = order.placed_at
    try:
        db.session.flush()
        order_recorded(order, store, created=True)
        db.session.commit()
    except IntegrityError:  # the same order arrived twice at once: the other request recorded it
        db.session.rollback()
        existing = get_order(store, data["order_id"])
        if existing is None:
            raise
        return _update(store, existing, data), False
    return order, True


def order_lines(items: list[dict[str, Any]] | None, cart: Cart | None) -> list[dict[str, Any]]:
    """What the order bought, as kept in ``Order.lines``: its own items when the shop sent them, else its cart's."""
    source = items if items else (cart.lines if cart is not None else [])
    return [{"product_id": str(item["product_id"]), "quantity": item["quantity"],
             **{key: str(item[key]) if item.get(key) else None for key in ("variant_id", "name")}} for item in source]


def record_past_order(store: Store, data: dict[str, Any]) -> bool:
    """An order from the shop's history (placed before it was connected): kept for the before/after report only, so
    with no cart, customer, attribution or next-order coupon. An order recorded already is left as it is. Returns
    whether it was new; the caller commits."""
    if get_order(store, data["order_id"]) is not None:
        return False
    try:
        with db.session.begin_nested():
            db.session.add(Order(
                store_id=store.id, external_id=data["order_id"], total=data["total"], currency=data["currency"],
                status=data["status"], coupon_codes=[code.upper() for code in data.get("coupon_codes") or []],
                placed_at=data["created_at"], received_at=clock.now()))
    except IntegrityError:  # the order's webhook recorded it meanwhile
        return False
    return True


def _completed_at(data: dict[str, Any], now) -> Any:
    """The shop's completion time when it says (WooCommerce's ``date_completed_gmt``), never later than now."""
    return min(data.get("completed_at") or now, now)


def _close_cart(order: Order, cart: Cart, customer: Customer | None, store: Store, now) -> None:
    cancel_pending(cart_id=cart.id)
    if cart.status in (*CartStatus.OPEN, CartStatus.LOST):
        attribute(order, cart, store)
        cart.abandon_due_at = None
        cart.closed_at = now
        if cart.customer is None:
            cart.customer = customer


def _update(store: Store, order: Order, data: dict[str, Any]) -> Order:
    """A later state: a status (processing -> completed, or cancelled/refunded, which takes back recovered revenue),
    refunds (``refunded``, taken off the revenue; absent: as stored) and shipment tracking (absent: as stored). A
    state the shop left before the stored one (a replayed or out-of-order delivery, an older page of the pull)
    changes nothing."""
    modified, status = data.get("modified_at"), data["status"]
    if modified is not None and order.shop_modified_at is not None and modified < order.shop_modified_at:
        return order
    refunded = order.refunded if data.get("refunded") is None else min(data["refunded"], order.total)
    shipments = order.tracking if data.get("tracking") is None else tracking.stored(data["tracking"])
    if modified is not None:
        order.shop_modified_at = modified
    if (status, refunded, shipments) == (order.status, order.refunded, order.tracking):
        db.session.commit()
        return order
    order.status, order.refunded, order.tracking = status, refunded, shipments
    order.updated_at = clock.now()
    if status == COMPLETED and order.completed_at is None:
        order.completed_at = _completed_at(data, order.updated_at)
    if order.cart is not None and status not in NOT_CLOSING and order.cart.status in CartStatus.OPEN:
        _close_cart(order, order.cart, order.customer, store, order.updated_at)  # the payment went through now
        credit_automation(order, order.customer, store)
    order_recorded(order, store, created=False)
    db.session.commit()
    return order
