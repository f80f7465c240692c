"""Issuing coupons: a step's coupon (recovery, win-back) when the first message that carries it is sent, a next-order
coupon after a qualifying order. All are unique, single-use by default and restricted to the customer's email."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from retainful import clock
from retainful.coupons.codes import new_code
from retainful.coupons.woo_sync import backend_for
from retainful.extensions import db
from retainful.models import Cart, Coupon, CouponKind, Customer, Order, Step, Store, SyncState

CODE_ATTEMPTS = 5


def _insert(coupon: Coupon, store: Store) -> Coupon:
    """Insert with a fresh code; a (very unlikely) clash with an existing code just draws again."""
    if backend_for(store) is not None:
        coupon.sync_state, coupon.sync_due_at = SyncState.PENDING, clock.now()
    for _ in range(CODE_ATTEMPTS):
        coupon.code = new_code()
        try:
            with db.session.begin_nested():
                db.session.add(coupon)
            return coupon
        except IntegrityError:  # the savepoint rolled back and took the new row with it
            continue
    raise RuntimeError("could not draw a unique coupon code")


def recovery_coupon_for(cart: Cart, step: Step, customer: Customer, store: Store) -> Coupon | None:
    """The cart's recovery coupon, minted now if this is the first message that carries one (so cancelled
    sequences leave no coupons behind); later steps reuse it."""
    if step is None or step.coupon_type is None:
        return None
    existing = db.session.scalar(sa.select(Coupon).where(Coupon.cart_id == cart.id,
                                                         Coupon.kind == CouponKind.RECOVERY))
    if existing is not None:
        return existing
    return step_coupon(step, customer, store, kind=CouponKind.RECOVERY, currency=cart.currency, cart_id=cart.id)


def step_coupon(step: Step, customer: Customer, store: Store, *, kind: str, currency: str,
                cart_id: int | None = None) -> Coupon:
    """Mint the coupon of an automation step's rule (type, amount, minimum, hours valid from now)."""
    coupon = Coupon(store_id=store.id, kind=kind, discount_type=step.coupon_type,
                    amount=step.coupon_amount or Decimal(0), currency=currency,
                    minimum_total=step.coupon_minimum,
                    expires_at=clock.now() + timedelta(hours=step.coupon_valid_hours),
                    email=customer.email, customer_id=customer.id, cart_id=cart_id)
    return _insert(coupon, store)


def _qualifies_for_next_order(store: Store, order: Order, customer: Customer | None) -> bool:
    if not store.next_order_enabled or customer is None or not customer.email:
        return False
    if order.status not in store.next_order_status_set:
        return False
    if store.next_order_minimum is not None and order.total < store.next_order_minimum:
        return False
    if store.next_order_first_only and db.session.scalar(sa.select(sa.exists().where(
            Order.customer_id == customer.id, Order.id != order.id, Order.placed_at < order.placed_at))):
        return False
    if not store.next_order_allow_chained and _used_a_next_order_coupon(store, order):
        return False
    return True


def _used_a_next_order_coupon(store: Store, order: Order) -> bool:
    codes = [code.upper() for code in order.coupon_codes or []]
    return bool(codes) and bool(db.session.scalar(sa.select(sa.exists().where(
        Coupon.store_id == store.id, Coupon.kind == CouponKind.NEXT_ORDER, Coupon.code.in_(codes)))))


def next_order_coupon_for(order: Order, store: Store) -> Coupon | None:
    """Issue the order's next-order coupon if the store's rule says so; once per order."""
    customer = order.customer
    if not _qualifies_for_next_order(store, order, customer):
        return None
    if db.session.scalar(sa.select(sa.exists().where(Coupon.order_id == order.id,
                                                     Coupon.kind == CouponKind.NEXT_ORDER))):
        return None
    coupon = Coupon(store_id=store.id, kind=CouponKind.NEXT_ORDER, discount_type=store.next_order_type,
                    amount=store.next_order_amount, currency=order.currency,
                    expires_at=clock.now() + timedelta(days=store.next_order_valid_days),
                    email=customer.email, customer_id=customer.id, order_id=order.id)
    return _insert(coupon, store)
