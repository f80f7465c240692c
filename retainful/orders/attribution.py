"""Crediting an order: to a conversation when the shopper wrote in one within CONVERSATION_WINDOW before it (rule
``conversation``: recovered revenue, credited to the agent's last reply sent, if any); else to recovery when a message
for its cart went out before it, within the window; else to the customer's latest other automation message
(win-back, ...) within the window: ``credited_message_id``, credited revenue that is not recovered revenue
(``attributed_message_id`` stays the recovery credit)."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from retainful.automations import registry
from retainful.extensions import db
from retainful.models import (Cart, CartStatus, Conversation, ConversationMessage, Customer, Message, MessageStatus,
                              Order, Store)
from retainful.models.conversation import Direction

# Orders in these states bring no revenue: a later update to one of them takes back recovered revenue.
VOID_STATUSES = frozenset({"cancelled", "refunded", "failed", "trash"})
CONVERSATION_WINDOW = timedelta(days=7)


def recovery_kinds() -> list[str]:
    """The automations whose credited orders count as recovered revenue (abandoned_cart)."""
    return [a.kind for a in registry.all_automations() if a.counts_as_recovered]


def _credited(sent: list[Message], placed_at) -> tuple[Message, str]:
    """The last clicked message before the order, else the last sent one (``sent`` in sending order)."""
    clicked = [m for m in sent if m.clicked_at is not None and m.clicked_at <= placed_at]
    return (max(clicked, key=lambda m: m.clicked_at), "clicked") if clicked else (sent[-1], "last_sent")


def credit_conversation(order: Order, customer: Customer | None) -> bool:
    """Credit the order to the customer's conversation with a shopper message in the CONVERSATION_WINDOW before it
    (the latest), and to that conversation's last reply sent before it (None: the shopper bought before an answer
    went out). Returns whether it was credited."""
    if customer is None or customer.id is None:
        return False
    conversation_id = db.session.scalar(
        sa.select(ConversationMessage.conversation_id).join(Conversation)
        .where(Conversation.customer_id == customer.id, ConversationMessage.direction == Direction.INBOUND,
               ConversationMessage.at <= order.placed_at,
               ConversationMessage.at >= order.placed_at - CONVERSATION_WINDOW)
        .order_by(ConversationMessage.at.desc()).limit(1))
    if conversation_id is None:
        return False
    order.conversation_id, order.attribution_rule = conversation_id, "conversation"
    order.attributed_message_id = db.session.scalar(
        sa.select(Message.id).join(ConversationMessage, ConversationMessage.outbox_message_id == Message.id)
        .where(ConversationMessage.conversation_id == conversation_id, Message.status == MessageStatus.SENT,
               Message.sent_at <= order.placed_at)
        .order_by(Message.sent_at.desc()).limit(1))
    return True


def attribute(order: Order, cart: Cart, store: Store) -> None:
    """Close the cart as ``recovered`` (credited to a conversation, else the last clicked message, else the last
    sent one) or ``converted`` (no message went out before the order, or the order came after the attribution
    window)."""
    if credit_conversation(order, order.customer or cart.customer):
        cart.status = CartStatus.RECOVERED
        return
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
    if order.conversation_id is None and order.attribution_rule is None:  # no cart credited it: an order without one
        credit_conversation(order, customer)
    if order.attributed_message_id is not None or order.conversation_id is not None or customer is None:
        order.credited_message_id = order.attributed_message_id
        return
    kinds = [kind for kind in registry.all_kinds()
             if registry.get(kind).credits_orders and not registry.get(kind).counts_as_recovered]
    sent = list(db.session.scalars(
        sa.select(Message).where(Message.customer_id == customer.id, Message.kind.in_(kinds),
                                 Message.status == MessageStatus.SENT, Message.sent_at <= order.placed_at,
                                 Message.sent_at >= order.placed_at - timedelta(days=store.attribution_window_days))
        .order_by(Message.sent_at)))
    if sent:
        order.credited_message_id = _credited(sent, order.placed_at)[0].id
