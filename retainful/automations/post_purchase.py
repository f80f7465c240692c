"""``post_purchase``: 7 days after an order reaches ``completed``, an email asking for a review and reminding of the
order's next-order code while it is unused. Off by default.

Planned when the order turns ``completed`` (the subject is the order, so a status that comes and goes plans it once);
skipped if the order was cancelled, refunded or deleted meanwhile.
"""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from retainful import clock
from retainful.automations import planner, registry
from retainful.automations.base import Automation, StepDefault, consented_channels
from retainful.automations.lifecycle import completed_order, order_of, order_view_of, sample_coupon, voided_reason
from retainful.automations.settings import enabled_steps
from retainful.extensions import db
from retainful.models import Coupon, CouponKind
from retainful.rendering.context import last_order_vars, sample_order
from retainful.words import N_


class PostPurchase(Automation):
    kind = "post_purchase"
    title = N_("Post-purchase follow-up")
    default_steps = (StepDefault(timedelta(days=7), email=True),)
    min_delay = timedelta(hours=1)
    max_delay = timedelta(days=90)

    def channels_for(self, step, customer):
        return consented_channels(step, customer)

    def on_order(self, order, store, created):
        target = completed_order(order)
        if target is not None:  # not_before: an order pulled months late asks for nothing
            planner.plan(self, store, [target], enabled_steps(store, self)[1],
                         not_before=clock.now() - self.stale_after)

    def stop_reason(self, message, cart, customer, history):
        return voided_reason(message)

    def coupon_for(self, message, store):
        """The order's next-order code, while it can still be used."""
        order = order_of(message)
        coupon = db.session.scalar(sa.select(Coupon).where(
            Coupon.order_id == order.id, Coupon.kind == CouponKind.NEXT_ORDER)) if order is not None else None
        if coupon is None or coupon.usage_count >= coupon.usage_limit or coupon.expires_at <= clock.now():
            return None
        return coupon

    def template_vars(self, message, store):
        view = order_view_of(message)
        return {"order": view, **last_order_vars(view, clock.now())}

    def sample_vars(self, store):
        view = sample_order(store)
        return {"order": view, **last_order_vars(view, clock.now()), "coupon": sample_coupon("20% off", 23)}


POST_PURCHASE = registry.register(PostPurchase())
