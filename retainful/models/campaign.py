"""A one-off campaign: one message per chosen channel to every customer of a segment, at one time (the store's clock,
or each recipient's own with ``local_time``). Its outbox rows carry ``message.campaign_id``; the batch expander
(:mod:`retainful.campaigns.sending`) writes them a batch at a time from ``cursor_id``."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from retainful import clock
from retainful.extensions import db
from retainful.models.types import MONEY, UTCDateTime


class CampaignState:
    DRAFT = "draft"  # saved without a send time
    SCHEDULED = "scheduled"  # waiting for its expand_at
    SENDING = "sending"  # the expander is writing its outbox rows, or they are not all sent yet
    SENT = "sent"  # every recipient enqueued and nothing of it pending
    CANCELLED = "cancelled"

    ALL = (DRAFT, SCHEDULED, SENDING, SENT, CANCELLED)
    CANCELLABLE = (DRAFT, SCHEDULED, SENDING)


class Campaign(db.Model):
    __tablename__ = "campaign"
    __table_args__ = (
        sa.Index("ix_campaign_state_expand", "state", "expand_at"),  # the expander's due campaigns
        sa.Index("ix_campaign_store_created", "store_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(200))
    state: Mapped[str] = mapped_column(sa.String(16), default=CampaignState.DRAFT)
    channels: Mapped[list] = mapped_column(sa.JSON, default=list)  # ["email", "sms"]
    # channel -> {"key": "campaign/news"} or {"source": "<the Jinja source, compiled and checked when saved>"}
    templates: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    segment: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)  # campaigns/segment.py's filters
    # The coupon rule, the shape of a sequence step's (coupons.step_coupon reads these four names).
    coupon_type: Mapped[str | None] = mapped_column(sa.String(16))
    coupon_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    coupon_minimum: Mapped[Decimal | None] = mapped_column(MONEY)
    coupon_valid_hours: Mapped[int] = mapped_column(default=48)
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the instant, on the store's clock
    # The wall-clock time asked for (naive): with local_time, each recipient's due time is this on their own clock.
    send_at_wall: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=False))
    local_time: Mapped[bool] = mapped_column(default=False)
    frequency_cap: Mapped[bool] = mapped_column(default=False)  # the store's per-customer caps hold its messages
    expand_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # when the expander starts on it
    cursor_id: Mapped[int | None] = mapped_column()  # the last customer id enqueued
    # Local send time (epoch seconds, as a string) -> the next free due time there: rows are spaced at the send rate.
    pacing: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    recipient_count: Mapped[int] = mapped_column(default=0)  # customers enqueued
    expanded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # every recipient enqueued
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(sa.String(32))  # "api" or "user:<id>"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now, onupdate=clock.now)
