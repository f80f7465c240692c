"""``welcome``: a new subscriber (``POST /api/v1/subscribers``) gets an email at once with a first-purchase code
(10%), and an SMS a day later if they consented to texts. Their first order stops it. Off by default.

Planned by the subscription itself (:func:`start`), once per customer: the subject is the customer, so a known
subscriber who signs up again, on another form or after an erase of nothing, gets no second series.
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from retainful.automations import planner, registry
from retainful.automations.base import Automation, StepDefault, Target, consented_channels
from retainful.automations.lifecycle import sample_coupon, series_coupon
from retainful.automations.settings import enabled_steps
from retainful.messaging import outbox
from retainful.models import Customer, CouponKind, DiscountType, Store
from retainful.words import N_

WELCOME_KIND = "welcome"


class Welcome(Automation):
    kind = WELCOME_KIND
    title = N_("Welcome series")
    default_steps = (
        StepDefault(timedelta(0), email=True, coupon_type=DiscountType.PERCENT, coupon_amount=Decimal(10),
                    coupon_valid_hours=7 * 24),
        StepDefault(timedelta(days=1), email=False, sms=True),  # reminds of the same code
    )
    coupon_kind = CouponKind.WELCOME
    min_delay = timedelta(0)
    max_delay = timedelta(days=30)

    def channels_for(self, step, customer):
        return consented_channels(step, customer)

    def on_order(self, order, store, created):
        """The first order ends the series: it was for a first purchase."""
        if created and order.customer_id is not None:
            outbox.cancel(customer_id=order.customer_id, kinds=[self.kind])

    def stop_reason(self, message, cart, customer, history):
        return "ordered" if history.last_order_at.get(customer.id) is not None else None

    def coupon_for(self, message, store):
        return series_coupon(message, store, CouponKind.WELCOME)

    def sample_vars(self, store):
        return {"coupon": sample_coupon("10% off", 7)}


WELCOME = registry.register(Welcome())


def start(store: Store, customer: Customer) -> int:
    """Plan the series for a new subscriber (the caller commits). A customer who has already ordered gets none."""
    if customer.last_order_at is not None or customer.subscribed_at is None:
        return 0
    _, steps = enabled_steps(store, WELCOME)
    return planner.plan(WELCOME, store, [Target(f"subscriber:{customer.id}", customer, customer.subscribed_at)], steps)
