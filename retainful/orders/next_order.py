"""The Retainful signature: a qualifying order earns a next-order coupon, delivered through the outbox."""
from __future__ import annotations

from retainful import clock
from retainful.coupons import next_order_coupon_for
from retainful.extensions import db
from retainful.models import NEXT_ORDER, Message, Order, Store


def issue_next_order(order: Order, store: Store) -> None:
    """Issue the coupon (once per order) and plan its email, and its SMS when the shopper consented to texts."""
    coupon = next_order_coupon_for(order, store)
    if coupon is None:
        return
    db.session.flush()
    customer = order.customer
    channels = ["email"] + (["sms"] if customer.phone and customer.sms_consent else [])
    for channel in channels:
        db.session.add(Message(store_id=store.id, customer_id=customer.id, kind=NEXT_ORDER, channel=channel,
                               coupon_id=coupon.id, due_at=clock.now()))
