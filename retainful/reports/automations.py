"""Per automation over a period: messages sent and clicked, the orders credited to them within the attribution
window and their revenue, and the unsubscribes (and SMS opt-outs) that followed them."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from retainful.automations import registry
from retainful.extensions import db
from retainful.models import TEST_SEND, Customer, Message, MessageStatus, Order, Store
from retainful.orders.attribution import VOID_STATUSES
from retainful.reports.period import Period

ZERO = Decimal(0)


def _last_message(column, channel: str, at):
    """``column`` of the customer's last message on ``channel`` sent at or before ``at``: the one an unsubscribe or
    an opt-out followed."""
    return (sa.select(column)
            .where(Message.customer_id == Customer.id, Message.channel == channel,
                   Message.status == MessageStatus.SENT, Message.kind != TEST_SEND, Message.sent_at <= at)
            .order_by(Message.sent_at.desc(), Message.id.desc()).limit(1).scalar_subquery())


def automations_report(store: Store, period: Period) -> dict[str, Any]:
    rows = {a.kind: {"kind": a.kind, "sent": 0, "clicked": 0, "orders": 0, "revenue": ZERO,
                     "counts_as_recovered": a.counts_as_recovered, "unsubscribes": 0}
            for a in registry.all_automations()}
    in_period = (Message.sent_at >= period.start, Message.sent_at < period.end)
    for kind, sent, clicked in db.session.execute(
            sa.select(Message.kind, sa.func.count(Message.id), sa.func.count(Message.clicked_at))
            .where(Message.store_id == store.id, *in_period, Message.status == MessageStatus.SENT,
                   Message.kind.in_(list(rows)))
            .group_by(Message.kind)):
        rows[kind]["sent"], rows[kind]["clicked"] = sent, clicked
    for kind, orders, revenue in db.session.execute(
            sa.select(Message.kind, sa.func.count(Order.id), sa.func.coalesce(sa.func.sum(Order.revenue), 0))
            .join(Message, Message.id == Order.credited_message_id)
            .where(Order.store_id == store.id, Order.placed_at >= period.start, Order.placed_at < period.end,
                   Order.status.not_in(VOID_STATUSES), Order.currency == store.currency)
            .group_by(Message.kind)):
        if kind in rows:
            rows[kind]["orders"], rows[kind]["revenue"] = orders, Decimal(revenue)
    window = timedelta(days=store.attribution_window_days)
    for channel, column in (("email", Customer.unsubscribed_at), ("sms", Customer.sms_opted_out_at)):
        for at, kind, sent_at in db.session.execute(
                sa.select(column, _last_message(Message.kind, channel, column),
                          _last_message(Message.sent_at, channel, column))
                .where(Customer.store_id == store.id, column >= period.start, column < period.end)):
            if kind in rows and sent_at is not None and at - sent_at <= window:
                rows[kind]["unsubscribes"] += 1
    return {"from": period.start_date.isoformat(), "to": period.end_date.isoformat(), "currency": store.currency,
            "automations": list(rows.values())}
