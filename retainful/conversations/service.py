"""Open, continue, answer, close: the life of a conversation, and its JSON for the API and the admin."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from retainful import clock
from retainful.extensions import db
from retainful.text import scrubbed
from retainful.models import (REASONS, Cart, Conversation, ConversationMessage, ConversationStatus, Customer,
                              Direction, Message, MessageStatus, Store)

log = logging.getLogger(__name__)

MAX_TEXT = 5000  # characters kept of one message (an email reply after its quoted history is stripped)
_LISTENERS: list[Callable[[ConversationMessage], None]] = []


class ConversationError(ValueError):
    """A request about a conversation that cannot be done; ``field`` names the input at fault, ``message`` says why
    without it (as a FieldError's: what a form shows at the field)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def on_inbound(listener: Callable[[ConversationMessage], None]) -> Callable[[ConversationMessage], None]:
    """Call ``listener`` with every new inbound message, after it is committed (the helpdesk webhook, the reason
    classifier). A listener that fails is logged; the message stays recorded."""
    _LISTENERS.append(listener)
    return listener


def open_conversation(customer: Customer) -> Conversation | None:
    """The customer's open conversation, or None."""
    return db.session.scalars(sa.select(Conversation).where(
        Conversation.customer_id == customer.id, Conversation.status == ConversationStatus.OPEN)
        .order_by(Conversation.id.desc()).limit(1)).first()


def _last_cart(customer: Customer) -> int | None:
    """The cart the shopper was last messaged about (what their reply is most likely about)."""
    return db.session.scalar(sa.select(Message.cart_id).where(
        Message.customer_id == customer.id, Message.cart_id.is_not(None), Message.status == MessageStatus.SENT)
        .order_by(Message.sent_at.desc()).limit(1)) or db.session.scalar(
        sa.select(Cart.id).where(Cart.customer_id == customer.id).order_by(Cart.id.desc()).limit(1))


def seen(store_id: int, channel: str, provider_message_id: str | None) -> bool:
    """Whether this provider message is recorded already (a retry)."""
    return provider_message_id is not None and db.session.scalar(sa.select(ConversationMessage.id).where(
        ConversationMessage.store_id == store_id, ConversationMessage.channel == channel,
        ConversationMessage.provider_message_id == provider_message_id)) is not None


def receive(customer: Customer, channel: str, text: str, *, provider_message_id: str | None = None,
            keyword: str | None = None, opt_out_flagged: bool = False, open_new: bool = True,
            at: datetime | None = None) -> ConversationMessage | None:
    """Record an inbound message: continue the customer's open conversation or open one (``open_new`` False: a
    closed one, as a record, for a bare keyword no agent needs to answer). A provider message id seen before records
    nothing (None): providers retry. Commits, then tells the listeners."""
    if seen(customer.store_id, channel, provider_message_id):
        return None
    now = at or clock.now()
    conversation = open_conversation(customer)
    if conversation is None and not open_new:  # a bare keyword joins the latest record rather than starting one
        conversation = db.session.scalars(sa.select(Conversation).where(Conversation.customer_id == customer.id)
                                          .order_by(Conversation.id.desc()).limit(1)).first()
    if conversation is None:
        conversation = Conversation(store_id=customer.store_id, customer_id=customer.id, channel=channel,
                                    status=ConversationStatus.OPEN if open_new else ConversationStatus.CLOSED,
                                    opened_at=now, closed_at=None if open_new else now,
                                    cart_id=_last_cart(customer), unread_count=0, opt_out_flagged=False)
        db.session.add(conversation)
    conversation.channel = channel
    conversation.last_inbound_at = now
    if conversation.status == ConversationStatus.OPEN:
        conversation.unread_count = (conversation.unread_count or 0) + 1
    conversation.opt_out_flagged = conversation.opt_out_flagged or opt_out_flagged
    message = ConversationMessage(store_id=customer.store_id, conversation=conversation,
                                  direction=Direction.INBOUND, channel=channel, text=scrubbed(text)[:MAX_TEXT],
                                  keyword=keyword, opt_out_flagged=opt_out_flagged,
                                  provider_message_id=provider_message_id, at=now)
    db.session.add(message)
    try:
        db.session.commit()
    except IntegrityError:  # the same provider message, recorded by a concurrent retry
        db.session.rollback()
        return None
    for listener in _LISTENERS:
        try:
            listener(message)
        except Exception:
            log.exception("conversations: an inbound listener failed for message %s", message.id)
            db.session.rollback()
    return message


def reply(conversation: Conversation, text: str, author: str | None = None, *, agent_user_id: int | None = None,
          keyword: str | None = None) -> ConversationMessage:
    """Answer the shopper on the conversation's channel: an outbound message row and its outbox row (due now,
    transactional, sent exactly once). ``author`` defaults to the store's persona. Commits."""
    from retainful.conversations import replies

    text = (text or "").strip()
    if not text:
        raise ConversationError("text", "required")
    if len(text) > MAX_TEXT:
        raise ConversationError("text", f"at most {MAX_TEXT} characters")
    store = db.session.get(Store, conversation.store_id)
    now = clock.now()
    message = ConversationMessage(store_id=conversation.store_id, conversation=conversation,
                                  direction=Direction.OUTBOUND, channel=conversation.channel, text=text,
                                  author=(author or store.persona)[:100], agent_user_id=agent_user_id,
                                  keyword=keyword, opt_out_flagged=False, at=now)
    db.session.add(message)
    db.session.flush()
    message.outbox_message_id = replies.enqueue(message, keyword is not None)
    if keyword is None:
        conversation.last_outbound_at = now
        conversation.first_response_at = conversation.first_response_at or now
        conversation.unread_count = 0
    db.session.commit()
    return message


def pause_until(conversation: Conversation, store: Store) -> datetime:
    """Until when the conversation holds the customer's marketing messages (``conversation_pause_hours`` after it
    opened, unless it is closed first)."""
    return conversation.opened_at + timedelta(hours=store.conversation_pause_hours)


def close(conversation: Conversation) -> Conversation:
    """Close it: the marketing messages it held are due again now. Commits."""
    if conversation.status != ConversationStatus.CLOSED:
        now = clock.now()
        store = db.session.get(Store, conversation.store_id)
        until = pause_until(conversation, store)
        from retainful.messaging.policy import paused_kinds

        db.session.execute(sa.update(Message).where(
            Message.customer_id == conversation.customer_id, Message.status == MessageStatus.SCHEDULED,
            Message.due_at == until, Message.kind.in_(paused_kinds())).values(due_at=now)
            .execution_options(synchronize_session=False))
        conversation.status = ConversationStatus.CLOSED
        conversation.closed_at = now
    db.session.commit()
    return conversation


def reopen(conversation: Conversation) -> Conversation:
    """Open a closed conversation again (it holds marketing again, measured from now). Commits."""
    if conversation.status != ConversationStatus.OPEN:
        other = db.session.get(Customer, conversation.customer_id)
        if open_conversation(other) is not None:
            raise ConversationError("status", "the shopper has another open conversation")
        conversation.status = ConversationStatus.OPEN
        conversation.closed_at = None
        conversation.opened_at = clock.now()
    db.session.commit()
    return conversation


def assign(conversation: Conversation, user_id: int | None) -> Conversation:
    """Give it to an agent (None: unassigned). The caller checks the user may see the store. Commits."""
    conversation.assigned_user_id = user_id
    db.session.commit()
    return conversation


def set_reason(conversation: Conversation, reason: str | None) -> Conversation:
    """The confirmed abandonment reason (one of REASONS, or None to clear it). Commits."""
    if reason is not None and reason not in REASONS:
        raise ConversationError("reason", f"one of {', '.join(REASONS)}")
    conversation.reason = reason
    db.session.commit()
    return conversation


def mark_read(conversation: Conversation) -> Conversation:
    conversation.unread_count = 0
    db.session.commit()
    return conversation


def get(store_id: int, conversation_id: int) -> Conversation | None:
    """One conversation of this store (another store's id answers None)."""
    conversation = db.session.get(Conversation, conversation_id)
    return conversation if conversation is not None and conversation.store_id == store_id else None


def list_conversations(store_id: int, status: str | None = None, *, limit: int = 50,
                       before_id: int | None = None) -> list[Conversation]:
    """The store's conversations, newest shopper message first (then newest id); ``before_id`` pages by id."""
    if status is not None and status not in ConversationStatus.ALL:
        raise ConversationError("status", f"one of {', '.join(ConversationStatus.ALL)}")
    query = sa.select(Conversation).where(Conversation.store_id == store_id)
    if status is not None:
        query = query.where(Conversation.status == status)
    if before_id is not None:
        query = query.where(Conversation.id < before_id)
    return list(db.session.scalars(query.order_by(Conversation.last_inbound_at.desc(), Conversation.id.desc())
                                   .limit(limit)))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def message_json(message: ConversationMessage) -> dict[str, Any]:
    return {"id": message.id, "direction": message.direction, "channel": message.channel, "text": message.text,
            "at": _iso(message.at), "author": message.author, "keyword": message.keyword,
            "opt_out_flagged": message.opt_out_flagged, "outbox_message_id": message.outbox_message_id,
            # An outbound message's delivery: scheduled, sent, skipped (with why: the shopper opted out ...), failed.
            "delivery": None if message.outbox_message is None else {
                "status": message.outbox_message.status, "skip_reason": message.outbox_message.skip_reason}}


def as_json(conversation: Conversation, *, messages: bool = False) -> dict[str, Any]:
    """The conversation as the API and the admin show it; with its ``messages`` in order when asked."""
    body = {"id": conversation.id, "customer_id": conversation.customer_id, "cart_id": conversation.cart_id,
            "status": conversation.status, "channel": conversation.channel,
            "assigned_user_id": conversation.assigned_user_id, "reason": conversation.reason,
            "suggested_reason": conversation.suggested_reason, "opt_out_flagged": conversation.opt_out_flagged,
            "unread_count": conversation.unread_count, "opened_at": _iso(conversation.opened_at),
            "last_inbound_at": _iso(conversation.last_inbound_at),
            "last_outbound_at": _iso(conversation.last_outbound_at),
            "first_response_at": _iso(conversation.first_response_at), "closed_at": _iso(conversation.closed_at)}
    if messages:
        body["messages"] = [message_json(m) for m in conversation.messages]
    return body
