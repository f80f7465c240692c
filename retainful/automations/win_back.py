"""``win_back``: a customer whose last order is 30 days old gets step 1 (free shipping for 48 hours), at 60 days
step 2 (15% off for 48 hours); by email and, with consent, SMS; at 10:00 in the recipient's local time.

Found by scanning customers by ``(store_id, last_order_at, id)`` from a cursor kept on the store's settings; the series
is named by the customer and the last order's time, so any order starts a new one: the order cancels what is pending
(``on_order``) and the scan plans afresh when the new order is 30 days old. Credited revenue is not recovered revenue
(the shopper was not in the middle of a purchase). Off by default.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from retainful import clock
from retainful.automations import registry
from retainful.automations.base import Automation, StepDefault, Target, consented_channels
from retainful.coupons import step_coupon
from retainful.extensions import db
from retainful.messaging import outbox
from retainful.models import Coupon, CouponKind, Customer, DiscountType, Message, Order
from retainful.words import N_

WIN_BACK = "win_back"
# Plan a little ahead of the first step, so its row (and its local send hour) is in the outbox before it is due.
LOOKAHEAD = timedelta(days=1)


class WinBack(Automation):
    kind = WIN_BACK
    title = N_("Win-back")
    default_steps = (
        StepDefault(timedelta(days=30), sms=True, at_hour=10, coupon_type=DiscountType.FREE_SHIPPING,
                    coupon_valid_hours=48),
        StepDefault(timedelta(days=60), sms=True, at_hour=10, coupon_type=DiscountType.PERCENT,
                    coupon_amount=Decimal(15), coupon_valid_hours=48),
    )
    coupon_kind = CouponKind.WIN_BACK
    min_delay = timedelta(days=1)

    def due(self, store, settings, now, limit):
        """Customers whose last order is old enough for the first enabled step, after the cursor; never further back
        than the series can still send (a store switching it on does not scan its whole history)."""
        delays = [step.delay for step in settings.steps if step.enabled]
        if not delays:
            return []
        newest = now - min(delays) + LOOKAHEAD
        oldest = now - max(delays) - self.stale_after
        after = (settings.cursor_at, settings.cursor_id or 0) if settings.cursor_at else None
        if after is None or after[0] < oldest:
            after = (oldest, 0)
        customers = list(db.session.scalars(
            sa.select(Customer)
            .where(Customer.store_id == store.id, Customer.last_order_at.is_not(None),
                   sa.tuple_(Customer.last_order_at, Customer.id) > sa.tuple_(*after),
                   Customer.last_order_at <= newest,
                   Customer.email.is_not(None) | Customer.phone.is_not(None))
            .order_by(Customer.last_order_at, Customer.id).limit(limit)))
        if customers:
            settings.cursor_at, settings.cursor_id = customers[-1].last_order_at, customers[-1].id
        return [Target(series(customer.id, customer.last_order_at), customer, customer.last_order_at)
                for customer in customers]

    def channels_for(self, step, customer):
        return consented_channels(step, customer)

    def on_order(self, order, store, created):
        """Any newer order ends the series: what is pending is cancelled (the scan starts the next one from it)."""
        customer = order.customer
        if created and customer is not None and customer.last_order_at == order.placed_at:
            outbox.cancel(customer_id=customer.id, kinds=[self.kind])

    def stop_reason(self, message, cart, customer, history):
        last_order = history.last_order_at.get(customer.id)
        if message.trigger_at is not None and last_order is not None and last_order > message.trigger_at:
            return "ordered"
        return None

    def coupon_for(self, message, store):
        """One code per step of a series, shared by its email and its SMS; minted by whichever goes first."""
        step = message.step
        if step is None or step.coupon_type is None or message.customer is None:
            return None
        sibling = db.session.scalar(sa.select(Message.coupon_id).where(
            Message.store_id == store.id, Message.kind == self.kind, Message.customer_id == message.customer_id,
            Message.step_id == step.id, Message.trigger_at == message.trigger_at, Message.id != message.id,
            Message.coupon_id.is_not(None)).limit(1))
        if sibling is not None:
            return db.session.get(Coupon, sibling)
        return step_coupon(step, message.customer, store, kind=CouponKind.WIN_BACK, currency=store.currency)

    def template_vars(self, message, store):
        return last_order_vars(message.customer_id, message.trigger_at, clock.now())

    def sample_vars(self, store):
        now = clock.now()
        return {"last_order": {"number": "1042", "total": Decimal("54.00"), "currency": store.currency,
                               "placed_at": now - timedelta(days=30)},
                "days_since_last_order": 30}


def series(customer_id: int, last_order_at: datetime) -> str:
    """A customer's series since one order: a later order names a new one."""
    return f"customer:{customer_id}@{int(last_order_at.timestamp())}"


def last_order_vars(customer_id: int | None, trigger_at: datetime | None, now: datetime) -> dict:
    """``last_order`` (number, total, currency, placed_at) and ``days_since_last_order`` for a customer's series."""
    if customer_id is None or trigger_at is None:
        return {}
    order = db.session.scalar(sa.select(Order).where(Order.customer_id == customer_id, Order.placed_at <= trigger_at)
                              .order_by(Order.placed_at.desc()).limit(1))
    view = None if order is None else {"number": order.external_id, "total": order.total,
                                       "currency": order.currency, "placed_at": order.placed_at}
    return {"last_order": view, "days_since_last_order": (now - trigger_at).days}


WIN = registry.register(WinBack())
