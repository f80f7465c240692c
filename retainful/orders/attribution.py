"""Crediting an order to recovery: only when a message for its cart went out before it, within the window."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from retainful.automations import registry
from retainful.extensions import db
from retainful.models import Cart, CartStatus, Message, MessageStatus, Order, Store

# Orders in these states bring no revenue: a later update to one of them takes back recovered revenue.
VOID_STATUSES = frozenset({"cancelled", "refunded", "failed", "trash"})


def recovery_kinds() -> list[str]:
    """The automations whose credited orders count as recovered revenue (abandoned_cart)."""
    return [a.kind for a in registry.all_automations() if a.counts_as_recovered]


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
        clicked = [m for m in sent if m.clicked_at is not None and m.clicked_at <= order.placed_at]
        credited = max(clicked, key=lambda m: m.clicked_at) if clicked else sent[-1]
        order.attributed_message_id = credited.id
        order.attribution_rule = "clicked" if clicked else "last_sent"
        cart.status = CartStatus.RECOVERED
    else:
        order.attribution_rule = "outside_window" if sent else None
        cart.status = CartStatus.CONVERTED
