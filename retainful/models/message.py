"""The outbox: one row per (automation, subject, step, channel), named by ``dedup_key`` (unique per store), so
planning twice never sends twice."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retainful import clock
from retainful.extensions import db
from retainful.models.cart import Cart
from retainful.models.customer import Customer
from retainful.models.sequence import Step
from retainful.models.types import UTCDateTime


NEXT_ORDER = "next_order"  # the next-order coupon message, sent once after a qualifying order
TEST_SEND = "test"  # the kind of a marketer's test-send: never in reports, never part of a sequence


class MessageStatus:
    SCHEDULED = "scheduled"
    SENDING = "sending"  # claimed by a worker until lease_until
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"

    ALL = (SCHEDULED, SENDING, SENT, FAILED, CANCELLED, SKIPPED)
    PENDING = (SCHEDULED, SENDING)


class Message(db.Model):
    __tablename__ = "message"
    __table_args__ = (
        sa.UniqueConstraint("cart_id", "step_id", "channel"),
        sa.Index("uq_message_store_dedup", "store_id", "dedup_key", unique=True),  # migration 0018
        sa.Index("ix_message_status_due", "status", "due_at"),  # the dispatcher's claim
        sa.Index("ix_message_status_lease", "status", "lease_until"),  # expired leases of crashed workers
        sa.Index("ix_message_customer_channel_sent", "customer_id", "channel", "sent_at"),  # frequency caps
        sa.Index("ix_message_campaign_status", "campaign_id", "status"),  # a campaign's results (migration 0024)
        # Reports (migration 0006): messages sent in a period; "was this cart messaged" and the funnel's per-step
        # counts of the cohort's messages; "was it clicked" (partial: only clicked rows). Index-only on PostgreSQL.
        sa.Index("ix_message_store_sent", "store_id", "sent_at", postgresql_include=["id", "kind", "status"]),
        sa.Index("ix_message_cart_status", "cart_id", "status", postgresql_include=[
            "store_id", "kind", "step_id", "channel", "skip_reason", "opened_at", "clicked_at", "id"]),
        sa.Index("ix_message_clicked", "cart_id", postgresql_include=["store_id", "kind", "status"],
                 postgresql_where=sa.text("clicked_at IS NOT NULL"), sqlite_where=sa.text("clicked_at IS NOT NULL")),
        # The test-send limits (migration 0014): a store's, and a requester's, recent test-sends.
        sa.Index("ix_message_test_store", "store_id", "created_at",
                 postgresql_where=sa.text("kind = 'test'"), sqlite_where=sa.text("kind = 'test'")),
        sa.Index("ix_message_test_requester", "requested_by", "created_at",
                 postgresql_where=sa.text("kind = 'test'"), sqlite_where=sa.text("kind = 'test'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"), index=True)
    cart_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cart.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customer.id", ondelete="CASCADE"))
    step_id: Mapped[int | None] = mapped_column(sa.ForeignKey("step.id", ondelete="SET NULL"))
    campaign_id: Mapped[int | None] = mapped_column(sa.ForeignKey("campaign.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(32))
    channel: Mapped[str] = mapped_column(sa.String(8))
    # "<kind>:<subject>:<step position>:<channel>" (retainful/automations/planner.py); None for test-sends.
    dedup_key: Mapped[str | None] = mapped_column(sa.String(200))
    # What the automation measured the delay from (a cart's last activity, the last order): its stop rules compare
    # later facts with it ("ordered since the trigger").
    trigger_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(sa.String(16), default=MessageStatus.SCHEDULED)
    skip_reason: Mapped[str | None] = mapped_column(sa.String(64))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(default=0)
    lease_owner: Mapped[str | None] = mapped_column(sa.String(32))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    provider: Mapped[str | None] = mapped_column(sa.String(16))
    provider_message_id: Mapped[str | None] = mapped_column(sa.String(128))
    error: Mapped[str | None] = mapped_column(sa.String(1000))
    coupon_id: Mapped[int | None] = mapped_column(sa.ForeignKey("coupon.id", ondelete="SET NULL"))
    link_code: Mapped[str | None] = mapped_column(sa.String(24), unique=True)  # /r/<code> and /o/<code>.gif
    # The experiment variant this message was rendered with (migration 0026): results count its recipients.
    variant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("experiment_variant.id", ondelete="SET NULL"),
                                                   index=True)
    requested_by: Mapped[str | None] = mapped_column(sa.String(32))  # a test-send's: "api" or "user:<id>"
    recipient: Mapped[str | None] = mapped_column(sa.String(254))
    subject: Mapped[str | None] = mapped_column(sa.String(300))
    body_text: Mapped[str | None] = mapped_column(sa.Text)
    body_html: Mapped[str | None] = mapped_column(sa.Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    clicked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    bounced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now, onupdate=clock.now)

    cart: Mapped[Cart | None] = relationship()
    customer: Mapped[Customer | None] = relationship()
    step: Mapped[Step | None] = relationship()
    coupon: Mapped["Coupon | None"] = relationship()  # noqa: F821 (models.coupon; resolved by name)
