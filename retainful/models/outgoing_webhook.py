"""Signed POSTs we owe a store's helpdesk (``conversation_webhook_url``): the database is the queue, so a delivery
survives restarts and is retried with backoff until it lands or runs out of attempts."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from retainful import clock
from retainful.extensions import db
from retainful.models.types import UTCDateTime


class OutgoingWebhook(db.Model):
    __tablename__ = "outgoing_webhook"
    __table_args__ = (sa.Index("ix_outgoing_webhook_due", "delivered_at", "failed_at", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)  # the delivery id receivers de-duplicate on
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"), index=True)
    # Whose words and contacts it carries: the customer's erasure or purge deletes it (customers/anonymise.py).
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(sa.String(40))  # "message.inbound"
    data: Mapped[str] = mapped_column(sa.Text)  # the event's JSON object, the same on every attempt
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # out of attempts
    last_status: Mapped[str | None] = mapped_column(sa.String(80), nullable=True)  # "HTTP 500", "timed out"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
