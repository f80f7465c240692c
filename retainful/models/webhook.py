"""Provider webhook deliveries already acted on, kept for a while so a repeated delivery changes nothing."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from retainful import clock
from retainful.extensions import db
from retainful.models.types import UTCDateTime


class WebhookDelivery(db.Model):
    __tablename__ = "webhook_delivery"
    __table_args__ = (sa.Index("ix_webhook_delivery_source_received", "source", "received_at"),)  # the pruning

    source: Mapped[str] = mapped_column(sa.String(16), primary_key=True)  # "woocommerce", "sendgrid"
    key: Mapped[str] = mapped_column(sa.String(200), primary_key=True)  # the provider's delivery or event id
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
