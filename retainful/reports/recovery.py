"""The summary and the per-step funnel.

Cohort: carts abandoned in the period. Carts that converted without any message stay in the denominators (plugins that
delete them inflate their recovery rate); carts in the holdout (control group) are left out of the recovery figures,
since by design they get nothing. Amounts are in the store's currency; an order's revenue is its total less refunds.
"""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from retainful.extensions import db
from retainful.models import ABANDONED_CART, Cart, CartStatus, Message, MessageStatus, Order, Step, Store
from retainful.orders.attribution import VOID_STATUSES
from retainful.reports.period import Period

ZERO = Decimal(0)
# An order credited to a recovery message, or to a conversation (the shopper wrote within 7 days before it).
CREDITED = Order.attributed_message_id.is_not(None) | Order.conversation_id.is_not(None)
IN_COHORT = Cart.control_group.is_(False)  # of the carts abandoned in the period


def _abandoned(store: Store, period: Period):
    return Cart.store_id == store.id, Cart.abandoned_at >= period.start, Cart.abandoned_at < period.end


def abandoned_in(store: Store, period: Period):
    """The recovery cohort's conditions."""
    return (*_abandoned(store, period), IN_COHORT)


def recovered_orders(store: Store):
    """Orders credited to a recovery message and not voided since (a refund takes the revenue back)."""
    return (Order.store_id == store.id, CREDITED, Order.status.not_in(VOID_STATUSES), Order.currency == store.currency)


def _ratio(numerator, denominator) -> float:
    return round(float(numerator) / float(denominator), 6) if denominator else 0.0


def _bounds():
    """The cohort's lowest and highest cart id, aggregated over ``_abandoned``. With FILTER, PostgreSQL reads them off
    the cohort's index range; a bare min/max would walk the primary key past every older cart."""
    return sa.func.min(Cart.id).filter(IN_COHORT), sa.func.max(Cart.id).filter(IN_COHORT)


def _within(column, low: int | None, high: int | None):
    """``column`` (a cart id) within the cohort's ``_bounds``. Implied wherever the cohort is joined, but it lets
    PostgreSQL range-scan a cart_id index over the cohort's stretch of history only (cart ids grow with time), and with
    the bounds as literals it plans for the real number of rows."""
    return column.between(low, high) if high is not None else sa.false()


def _sent(store: Store):
    """Recovery messages that went out."""
    return (Message.store_id == store.id, Message.kind == ABANDONED_CART, Message.status == MessageStatus.SENT)


def summary(store: Store, period: Period) -> dict[str, Any]:
    """The cohort's own figures in one statement with aggregate FILTERs: messaged and clicked carts come from the
    times the dispatcher and the click handler keep on each cart, so the outbox is read only for the messages sent."""
    cohort = abandoned_in(store, period)
    created = db.session.scalar(sa.select(sa.func.count(Cart.id)).where(
        Cart.store_id == store.id, Cart.created_at >= period.start, Cart.created_at < period.end))

    def cohort_count(*conditions):
        return sa.func.count(Cart.id).filter(IN_COHORT, *conditions)

    abandoned, reachable, messaged, clicked, converted, lost, lost_value = db.session.execute(
        sa.select(sa.func.count(Cart.id), cohort_count(Cart.reachable.is_(True)),
                  cohort_count(Cart.messaged_at.is_not(None)), cohort_count(Cart.clicked_at.is_not(None)),
                  cohort_count(Cart.status == CartStatus.CONVERTED), cohort_count(Cart.status == CartStatus.LOST),
                  sa.func.coalesce(sa.func.sum(Cart.total).filter(IN_COHORT, Cart.status == CartStatus.LOST), 0))
        .where(*_abandoned(store, period))).one()
    recovered, revenue, captured = db.session.execute(
        sa.select(sa.func.count(Order.id), sa.func.coalesce(sa.func.sum(Order.revenue), 0),
                  sa.func.coalesce(sa.func.sum(Cart.total), 0))
        .join(Cart, Cart.id == Order.cart_id).where(*recovered_orders(store), *cohort)).one()
    messages_sent = db.session.scalar(sa.select(sa.func.count(Message.id)).where(
        *_sent(store), Message.sent_at >= period.start, Message.sent_at < period.end))
    revenue = Decimal(revenue)
    return {
        "from": period.start_date.isoformat(), "to": period.end_date.isoformat(), "currency": store.currency,
        "carts_created": created, "abandoned": abandoned, "reachable": reachable, "messaged": messaged,
        "clicked": clicked, "recovered": recovered, "recovered_revenue": revenue,
        "captured_cart_value": Decimal(captured), "converted": converted, "lost": lost,
        "lost_value": Decimal(lost_value), "recovery_rate": _ratio(recovered, reachable),
        "messages_sent": messages_sent,
        "revenue_per_message": (revenue / messages_sent).quantize(Decimal("0.01")) if messages_sent else ZERO,
    }


def funnel(store: Store, period: Period) -> list[dict[str, Any]]:
    """Per step and channel, for the cohort's messages: planned, sent, skipped by reason, failed, opened, clicked,
    and the recovered carts and revenue credited to that step."""
    cohort = abandoned_in(store, period)
    low, high = db.session.execute(sa.select(*_bounds()).where(*_abandoned(store, period))).one()
    rows: dict[tuple[int, str], dict[str, Any]] = {}

    def row(position: int, channel: str) -> dict[str, Any]:
        return rows.setdefault((position, channel), {
            "automation": ABANDONED_CART, "step": position, "channel": channel, "planned": 0, "sent": 0,
            "skipped": defaultdict(int), "failed": 0, "cancelled": 0, "opened": 0, "clicked": 0, "recovered": 0, "recovered_revenue": ZERO})

    counts = db.session.execute(
        sa.select(Step.position, Message.channel, Message.status, Message.skip_reason, sa.func.count(Message.id),
                  sa.func.count(Message.opened_at), sa.func.count(Message.clicked_at))
        .join(Step, Step.id == Message.step_id).join(Cart, Cart.id == Message.cart_id)
        .where(Message.kind == ABANDONED_CART, _within(Message.cart_id, low, high), *cohort)
        .group_by(Step.position, Message.channel, Message.status, Message.skip_reason))
    for position, channel, status, reason, n, opened, clicked_n in counts:
        entry = row(position, channel)
        entry["planned"] += n
        entry["opened"] += opened
        entry["clicked"] += clicked_n
        if status == MessageStatus.SKIPPED:
            entry["skipped"][reason or "unknown"] += n
        elif status in ("sent", "failed", "cancelled"):
            entry[status] += n
    credited = db.session.execute(
        sa.select(Step.position, Message.channel, sa.func.count(Order.id), sa.func.sum(Order.revenue))
        .join(Message, Message.id == Order.attributed_message_id).join(Step, Step.id == Message.step_id)
        .join(Cart, Cart.id == Order.cart_id).where(*recovered_orders(store), *cohort)
        .group_by(Step.position, Message.channel))
    for position, channel, n, total in credited:
        entry = row(position, channel)
        entry["recovered"], entry["recovered_revenue"] = n, Decimal(total)
    for entry in rows.values():
        entry["skipped"] = dict(entry["skipped"])
    return [rows[key] for key in sorted(rows)]
