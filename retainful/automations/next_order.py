"""``next_order``: the Retainful signature. A qualifying order earns a next-order coupon, delivered at once by email,
and by SMS to shoppers who consented to texts.

On or off is the store's next-order rule (``next_order_enabled``, with its statuses, minimum and amount: the coupon
rule); the one step's channels are its settings here. The coupon is issued with the order, once per order.
"""
from __future__ import annotations

from datetime import timedelta

from retainful import clock
from retainful.automations import planner, registry
from retainful.automations.base import Automation, StepDefault, Target, consented_channels
from retainful.automations.settings import enabled_steps
from retainful.coupons import next_order_coupon_for
from retainful.extensions import db
from retainful.models import NEXT_ORDER, CouponKind
from retainful.words import N_


class NextOrder(Automation):
    kind = NEXT_ORDER
    title = N_("Next-order coupon")
    default_steps = (StepDefault(timedelta(0), email=True, sms=True),)
    default_enabled = True
    # A reply to the shopper's own order, sent at once: not held back by the marketing caps (it never was).
    transactional = True
    coupon_kind = CouponKind.NEXT_ORDER
    min_delay = timedelta(0)
    max_delay = timedelta(days=30)

    def is_enabled(self, store, settings):
        return store.next_order_enabled

    def set_enabled(self, store, settings, enabled):
        store.next_order_enabled = enabled

    def channels_for(self, step, customer):
        return consented_channels(step, customer)

    def template_key(self, position):
        return f"{self.kind}/coupon"

    def on_order(self, order, store, created):
        """Issue the coupon (once per order) and plan its messages from now."""
        coupon = next_order_coupon_for(order, store)
        if coupon is None:
            return
        db.session.flush()
        _, steps = enabled_steps(store, self)
        planner.plan(self, store, [Target(f"order:{order.id}", order.customer, clock.now(), coupon_id=coupon.id)],
                     steps)


NEXT = registry.register(NextOrder())
