"""The tenant: one shop, its credentials and its recovery settings."""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from retainful import clock
from retainful.extensions import db
from retainful.models.types import UTCDateTime


class Store(db.Model):
    __tablename__ = "store"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    domain: Mapped[str] = mapped_column(sa.String(253))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    currency: Mapped[str] = mapped_column(sa.String(3), default="USD")
    locale: Mapped[str] = mapped_column(sa.String(16), default="en_US")
    country: Mapped[str | None] = mapped_column(sa.String(2))  # default region for phone numbers
    # The API key is shown once; only its SHA-256 is kept (keys carry 256 random bits, so a fast hash is enough).
    api_key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    api_key_prefix: Mapped[str] = mapped_column(sa.String(16))
    webhook_secret: Mapped[str] = mapped_column(sa.String(128))
    abandon_after_minutes: Mapped[int] = mapped_column(default=15)
    retention_days: Mapped[int] = mapped_column(default=60)
    paused: Mapped[bool] = mapped_column(default=False)
    recovery_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)

    @property
    def abandon_after(self) -> timedelta:
        return timedelta(minutes=self.abandon_after_minutes)

    @property
    def retention(self) -> timedelta:
        return timedelta(days=self.retention_days)

    def __repr__(self) -> str:
        return f"<Store {self.id} {self.domain}>"
