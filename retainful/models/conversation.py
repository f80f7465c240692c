"""Conversations: a shopper wrote back (SMS or email) and a person answers. One open conversation per customer at a
time; every inbound and outbound text is a :class:`ConversationMessage`, outbound ones go out through the outbox."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retainful import clock
from retainful.extensions import db
from retainful.models.customer import Customer
from retainful.models.types import UTCDateTime

# The abandonment reasons an agent (or the classifier) may give a conversation.
REASONS = ("payment", "unexpected_fees", "technical", "shipping_time", "trust", "product_info", "price", "other")


class ConversationStatus:
    OPEN = "open"
    CLOSED = "closed"
    ALL = (OPEN, CLOSED)


class Direction:
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    ALL = (INBOUND, OUTBOUND)


class Conversation(db.Model):
    __tablename__ = "conversation"
    __table_args__ = (
        sa.Index("ix_conversation_store_status", "store_id", "status", "last_inbound_at"),  # the inbox
        sa.Index("ix_conversation_customer_status", "customer_id", "status"),  # the pause, "continue or open"
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customer.id", ondelete="CASCADE"))
    # The cart the shopper was last messaged about when they wrote (None: no such cart).
    cart_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cart.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(sa.String(8), default=ConversationStatus.OPEN)
    channel: Mapped[str] = mapped_column(sa.String(8))  # the channel of the last inbound message: replies use it
    assigned_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("admin_user.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(sa.String(32))  # confirmed by an agent, one of REASONS
    suggested_reason: Mapped[str | None] = mapped_column(sa.String(32))  # the classifier's
    opt_out_flagged: Mapped[bool] = mapped_column(default=False)  # an FCC embedded-word revocation was seen
    unread_count: Mapped[int] = mapped_column(default=0)  # inbound messages since an agent last answered or read
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_outbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now, onupdate=clock.now)

    customer: Mapped[Customer] = relationship()
    messages: Mapped[list["ConversationMessage"]] = relationship(
        back_populates="conversation", order_by="(ConversationMessage.at, ConversationMessage.id)",
        cascade="all, delete-orphan", passive_deletes=True)


class ConversationMessage(db.Model):
    __tablename__ = "conversation_message"
    __table_args__ = (
        # Provider retries: one row per provider message id (Vonage messageId, a parsed email's Message-ID).
        sa.Index("uq_conversation_message_provider", "store_id", "channel", "provider_message_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[int] = mapped_column(sa.ForeignKey("conversation.id", ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(sa.String(8))  # Direction
    channel: Mapped[str] = mapped_column(sa.String(8))  # "sms" or "email"
    text: Mapped[str] = mapped_column(sa.Text)
    author: Mapped[str | None] = mapped_column(sa.String(100))  # the persona or agent name of an outbound message
    agent_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("admin_user.id", ondelete="SET NULL"))
    keyword: Mapped[str | None] = mapped_column(sa.String(16))  # the keyword action it triggered: opt_out, help ...
    opt_out_flagged: Mapped[bool] = mapped_column(default=False)  # FCC embedded-word revocation
    provider_message_id: Mapped[str | None] = mapped_column(sa.String(128))
    outbox_message_id: Mapped[int | None] = mapped_column(sa.ForeignKey("message.id", ondelete="SET NULL"),
                                                          index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")
    outbox_message: Mapped["Message | None"] = relationship()  # noqa: F821 (models.message; resolved by name)


class InboundSmsPart(db.Model):
    """One part of a long inbound text (Vonage ``concat-ref``/``concat-part``/``concat-total``), kept until the
    whole text has arrived (or a day has passed), then marked joined and kept a day more, so a part Vonage retries
    after the join is still recognised (by its ``messageId``) and recorded once."""

    __tablename__ = "inbound_sms_part"
    __table_args__ = (sa.UniqueConstraint("recipient", "provider_message_id"),
                      sa.Index("ix_inbound_sms_part_set", "sender", "recipient", "concat_ref"))

    id: Mapped[int] = mapped_column(primary_key=True)
    sender: Mapped[str] = mapped_column(sa.String(20))  # E.164
    recipient: Mapped[str] = mapped_column(sa.String(20))  # our number, E.164
    concat_ref: Mapped[str] = mapped_column(sa.String(64))
    part: Mapped[int] = mapped_column()
    total: Mapped[int] = mapped_column()
    text: Mapped[str] = mapped_column(sa.Text)
    provider_message_id: Mapped[str] = mapped_column(sa.String(128))  # Vonage's messageId of this part
    joined: Mapped[bool] = mapped_column(default=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now, index=True)


class CannedReply(db.Model):
    """A store's ready answer, with merge variables (``{{ customer.first_name }}``, ``{{ recovery_link }}``)."""

    __tablename__ = "canned_reply"

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(sa.String(100))
    text: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
