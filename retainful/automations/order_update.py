"""``order_update``: an SMS when an order moves to ``completed`` (shipped), naming the order and, when the order
carries tracking (WooCommerce Shipment Tracking's items, or the API's ``tracking``), the carrier and tracking link.

Transactional: it answers the shopper's own order, so the marketing caps do not hold it back (its sends still count
toward the others' caps); consent, opt-outs and quiet hours hold as for every SMS. Off by default.
"""
from __future__ import annotations

from datetime import timedelta

from retainful import clock
from retainful.automations import planner, registry
from retainful.automations.base import Automation, StepDefault, consented_channels
from retainful.automations.lifecycle import completed_order, order_view_of, voided_reason
from retainful.automations.settings import enabled_steps
from retainful.rendering.context import sample_order
from retainful.words import N_

# An order seen completed only this long after it was (a missed webhook, a late pull) is not announced as news.
FRESH = timedelta(days=1)


class OrderUpdate(Automation):
    kind = "order_update"
    title = N_("Order shipped")
    default_steps = (StepDefault(timedelta(0), email=False, sms=True),)
    transactional = True
    min_delay = timedelta(0)
    max_delay = timedelta(days=2)

    def channels_for(self, step, customer):
        return consented_channels(step, customer)

    def on_order(self, order, store, created):
        target = completed_order(order)
        if target is not None and clock.now() - target.trigger_at <= FRESH:
            planner.plan(self, store, [target], enabled_steps(store, self)[1])

    def stop_reason(self, message, cart, customer, history):
        return voided_reason(message)

    def template_vars(self, message, store):
        view = order_view_of(message)
        return {"order": view, "tracking": view.tracking[0] if view is not None and view.tracking else None}

    def sample_vars(self, store):
        view = sample_order(store)
        return {"order": view, "tracking": view.tracking[0]}


ORDER_UPDATE = registry.register(OrderUpdate())
