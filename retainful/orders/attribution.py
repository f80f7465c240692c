"""Crediting an order to a message: to recovery when a message for its cart went out before it, within the window;
else to the customer's latest other automation message (win-back, ...) within the window: ``credited_message_id``,
credited revenue that is not recovered revenue (``attributed_message_id`` stays the recovery credit)."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from retainful.automations import registry
from retainful.extensions import db
from retainful.models import Cart, CartStatus, Customer, Message, MessageStatus, Order, Store

# Orders in these states bring no revenue: a later update to one of them takes back recovered revenue.
VOID_STATUSES = frozenset({"cancelled", "refunded", "failed", "trash"})


def recovery_kinds() -> list[str]:
    """The automations whose credited orders count as recovered revenue (abandoned_cart)."""
    return [a.kind for a in registry.all_automations() if a.counts_as_recovered]


def _credited(sent: list[Message], placed_at) -> tuple[Message, str]:
    """The last clicked message before the order, else the last sent one (``sent`` in sending order)."""
    clicked = [m for m in sent if m.clicked_at is not None and m.clicked_at <= placed_at]
    return (max(clicked, key=lambda m: m.clicked_at), "clicked") if clicked else (sent[-1], "last_sent")


def attribute(order: Order, cart: Cart, store: Store) -> None:
    """Close the cart as ``recovered`` (credited to the last clicked message, else the last sent one) or
    ``converted`` (no message went out before the order, or the order came after the attribution window)."""
    sent = list(db.session.scalars(
        sa.select(Message).where(Message.cart_id == cart.id, Message.kind.in_(recovery_kinds()),
                                 Message.status == MessageStatus.SENT, Message.sent_at <= order.placed_at)
        .order_by(Message.sent_at)
    ))
    window = timedelta(days=store.attribution_window_days)
    if sent and order.placed_at <= sent[-1].sent_at + window:
        credited, rule = _credited(sent, order.placed_at)
        order.attributed_message_id, order.attribution_rule = credited.id, rule
        cart.status = CartStatus.RECOVERED
    else:
        order.attribution_rule = "outside_window" if sent else None
        cart.status = CartStatus.CONVERTED


def credit_automation(order: Order, customer: Customer | None, store: Store) -> None:
    """The order's credit of any automation: its recovery credit, else the customer's latest message of another
    automation sent within the attribution window before it (the last clicked first)."""
    if order.attributed_message_id is not None or customer is None:
        order.credited_message_id = order.attributed_message_id
        return
    kinds = [a.kind for a in registry.all_automations() if not a.counts_as_recovered]
    sent = list(db.session.scalars(
        sa.select(Message).where(Message.customer_id == customer.id, Message.kind.in_(kinds),
                                 Message.status == MessageStatus.SENT, Message.sent_at <= order.placed_at,
                                 Message.sent_at >= order.placed_at - timedelta(days=store.attribution_window_days))
        .order_by(Message.sent_at)))
    if sent:
        order.credited_message_id = _credited(sent, order.placed_at)[0].id
