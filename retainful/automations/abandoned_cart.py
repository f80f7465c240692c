"""``abandoned_cart``: the recovery sequence for a cart the shopper left (30 min, 6 h, 2 d, 4 d, 7 d).

Planned by the abandon sweep (:func:`plan_abandoned`) from the cart's last activity; stopped when the cart is no longer
abandoned or its customer ordered since; its coupon is the cart's recovery coupon; its revenue is recovered revenue.
"""
from __future__ import annotations

import hashlib
from datetime import timedelta
from decimal import Decimal
from typing import Iterable

import sqlalchemy as sa

from retainful.automations import planner, registry
from retainful.automations.base import Automation, StepDefault, Target
from retainful.automations.settings import enabled_steps
from retainful.coupons import recovery_coupon_for
from retainful.extensions import db
from retainful.models import (ABANDONED_CART, TEST_SEND, Cart, CartStatus, CouponKind, DiscountType, Message,
                              Store)
from retainful.words import N_

# After the last step is due, a cart without an order waits this long before it counts as lost.
LOST_GRACE = timedelta(days=1)


class AbandonedCart(Automation):
    kind = ABANDONED_CART
    title = N_("Abandoned cart")
    # SMS only on the first step: US carriers allow one abandoned-cart text per cart within 48 hours, and the send
    # policy enforces that even if a store adds more. A 10% coupon on the 2-day step: early reminders work without
    # one, so the discount goes where it is needed.
    default_steps = (
        StepDefault(timedelta(minutes=30), sms=True),
        StepDefault(timedelta(hours=6)),
        StepDefault(timedelta(days=2), coupon_type=DiscountType.PERCENT, coupon_amount=Decimal(10)),
        StepDefault(timedelta(days=4)),
        StepDefault(timedelta(days=7)),
    )
    default_enabled = True
    counts_as_recovered = True
    coupon_kind = CouponKind.RECOVERY
    max_delay = timedelta(days=60)

    def stop_reason(self, message, cart, customer, history):
        if cart is None:
            return None
        if cart.status != CartStatus.ABANDONED:
            return f"cart_{cart.status}"
        last_order = history.last_order_at.get(customer.id)
        if last_order is not None and last_order >= cart.last_activity_at:
            return "ordered"  # the shopper bought since leaving this cart (maybe from another device)
        return None

    def coupon_for(self, message, store):
        if message.cart is None:
            return None
        return recovery_coupon_for(message.cart, message.step, message.customer, store)


ABANDONED = registry.register(AbandonedCart())


def plan_abandoned(cart_ids: Iterable[int]) -> int:
    """Plan the sequence's messages for these newly abandoned carts. Returns how many rows were (re)scheduled.

    Steps already sent stay sent; the others are measured from the cart's latest activity. Commits.
    """
    planned = 0
    steps_of: dict[int, list] = {}
    for cart in db.session.scalars(sa.select(Cart).where(Cart.id.in_(list(cart_ids))).order_by(Cart.id)):
        store = db.session.get(Store, cart.store_id)
        if cart.store_id not in steps_of:
            steps_of[cart.store_id] = enabled_steps(store, ABANDONED)[1]
        steps = steps_of[cart.store_id]
        last_delay = max((s.delay for s in steps), default=timedelta(0))
        cart.lost_due_at = cart.last_activity_at + last_delay + LOST_GRACE
        if cart.customer_id is None or not cart.reachable:
            continue  # tracked for the reports, but there is nobody to write to
        if cart.control_group or _joins_holdout(cart, store.holdout_percent):
            cart.control_group = True  # the holdout: abandoned like any other, never messaged
            continue
        target = Target(f"cart:{cart.id}", cart.customer, cart.last_activity_at, cart_id=cart.id)
        planned += planner.plan(ABANDONED, store, [target], steps)
    db.session.commit()
    return planned


def in_holdout(store_id: int, token: str, percent: int) -> bool:
    """A stable draw by a hash of the cart: the same cart always lands in the same group."""
    digest = hashlib.sha256(f"{store_id}:{token}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < percent


def _joins_holdout(cart: Cart, percent: int) -> bool:
    """Decided once, at the cart's first abandonment: a cart that has been messaged never joins the control group."""
    if percent <= 0:
        return False
    messaged = db.session.scalar(sa.select(sa.exists().where(Message.cart_id == cart.id, Message.kind != TEST_SEND)))
    return not messaged and in_holdout(cart.store_id, cart.token, percent)
