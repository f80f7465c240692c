"""Conversations over a period (those opened in it): how many got an answer and how fast, how many led to an order
(the ``conversation`` attribution rule) and its revenue; and the abandoned carts by reason with the share recovered."""
from __future__ import annotations

from decimal import Decimal
from statistics import median
from typing import Any

import sqlalchemy as sa

from retainful.extensions import db
from retainful.models import Cart, CartStatus, Conversation, Order, Store
from retainful.models.conversation import REASONS
from retainful.orders.attribution import VOID_STATUSES
from retainful.reports.period import Period


def _opened(store: Store, period: Period):
    return (Conversation.store_id == store.id, Conversation.opened_at >= period.start,
            Conversation.opened_at < period.end)


def _dates(store: Store, period: Period) -> dict[str, Any]:
    return {"from": period.start_date.isoformat(), "to": period.end_date.isoformat(), "currency": store.currency}


def conversations_report(store: Store, period: Period) -> dict[str, Any]:
    """opened, replied, the median first-response time in seconds (None without replies), converted (conversations
    with a credited order that was not voided since) and that revenue."""
    waits = [(answered - opened).total_seconds() for opened, answered in db.session.execute(
        sa.select(Conversation.opened_at, Conversation.first_response_at).where(*_opened(store, period)))
        if answered is not None]
    opened = db.session.scalar(sa.select(sa.func.count(Conversation.id)).where(*_opened(store, period)))
    converted, revenue = db.session.execute(
        sa.select(sa.func.count(sa.distinct(Order.conversation_id)), sa.func.coalesce(sa.func.sum(Order.revenue), 0))
        .join(Conversation, Conversation.id == Order.conversation_id)
        .where(*_opened(store, period), Order.store_id == store.id, Order.status.not_in(VOID_STATUSES),
               Order.currency == store.currency)).one()
    return {**_dates(store, period), "opened": opened, "replied": len(waits),
            "median_first_response_seconds": round(median(waits)) if waits else None,
            "converted": converted, "revenue": Decimal(revenue)}


def reasons_report(store: Store, period: Period) -> dict[str, Any]:
    """Per reason (the agent's, else the classifier's suggestion), the carts of the conversations opened in the
    period, how many were recovered and the share; ``unclassified`` counts the conversations with neither."""
    reason = sa.func.coalesce(Conversation.reason, Conversation.suggested_reason)
    rows = {name: {"reason": name, "carts": 0, "recovered": 0, "recovered_share": 0.0, "confirmed": 0}
            for name in REASONS}
    unclassified = 0
    for name, carts, recovered, confirmed, conversations in db.session.execute(
            sa.select(reason, sa.func.count(sa.distinct(Conversation.cart_id)),
                      sa.func.count(sa.distinct(Cart.id)).filter(Cart.status == CartStatus.RECOVERED),
                      sa.func.count(Conversation.reason), sa.func.count(Conversation.id))
            .outerjoin(Cart, Cart.id == Conversation.cart_id)
            .where(*_opened(store, period)).group_by(reason)):
        if name not in rows:
            unclassified += conversations
            continue
        rows[name].update(carts=carts, recovered=recovered, confirmed=confirmed,
                          recovered_share=round(recovered / carts, 6) if carts else 0.0)
    return {**_dates(store, period), "reasons": list(rows.values()), "unclassified": unclassified}
