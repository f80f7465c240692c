"""A shopper of one store, with per-channel consent and its history."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retainful import clock
from retainful.extensions import db
from retainful.models.types import UTCDateTime


class Customer(db.Model):
    __tablename__ = "customer"
    __table_args__ = (
        sa.UniqueConstraint("store_id", "external_id"),
        # Mailboxes are case-insensitive in practice: Alice@x.com and alice@x.com are one shopper.
        sa.Index("ix_customer_store_email", "store_id", sa.text("lower(email)")),
        sa.Index("ix_customer_store_phone", "store_id", "phone"),
        sa.Index("ix_customer_store_last_order", "store_id", "last_order_at", "id"),  # win-back's scan (0018)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str | None] = mapped_column(sa.String(64))  # the shop's customer id; None for guests
    email: Mapped[str | None] = mapped_column(sa.String(254))
    phone: Mapped[str | None] = mapped_column(sa.String(20))  # E.164
    first_name: Mapped[str | None] = mapped_column(sa.String(100))
    last_name: Mapped[str | None] = mapped_column(sa.String(100))
    locale: Mapped[str | None] = mapped_column(sa.String(16))
    # ISO 3166 alpha-2: the phone number's region, else the locale's (campaign segments' country filter; 0024).
    country: Mapped[str | None] = mapped_column(sa.String(2))
    birthday: Mapped[str | None] = mapped_column(sa.String(10))  # "MM-DD" or "YYYY-MM-DD" (customers/birthdays.py)
    email_consent: Mapped[bool | None] = mapped_column()
    email_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    email_consent_source: Mapped[str | None] = mapped_column(sa.String(64))
    sms_consent: Mapped[bool | None] = mapped_column()
    sms_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sms_consent_source: Mapped[str | None] = mapped_column(sa.String(64))
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sms_opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    email_suppressed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # bounced or reported as spam
    email_suppression_reason: Mapped[str | None] = mapped_column(sa.String(64))
    last_order_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    subscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # first POST /api/v1/subscribers
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)

    consent_events: Mapped[list["ConsentEvent"]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="ConsentEvent.id", passive_deletes=True
    )

    @property
    def is_guest(self) -> bool:
        return self.external_id is None

    @property
    def reachable(self) -> bool:
        return bool(self.email or self.phone)


class ConsentEvent(db.Model):
    """An audit row per consent change: what changed, when, and how it was given (GDPR / TCPA evidence)."""

    __tablename__ = "consent_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(sa.String(8))
    granted: Mapped[bool] = mapped_column()
    source: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)

    customer: Mapped[Customer] = relationship(back_populates="consent_events")
