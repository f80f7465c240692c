"""Store overrides of the default templates. Every save is a new version; a version without source means
"back to the file default", so the default is one click away and the history stays complete."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from retainful import clock
from retainful.extensions import db
from retainful.models.types import UTCDateTime


class TemplateVersion(db.Model):
    __tablename__ = "template_version"
    __table_args__ = (sa.UniqueConstraint("store_id", "channel", "key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(sa.String(8))
    key: Mapped[str] = mapped_column(sa.String(64))  # e.g. abandoned_cart/step1
    version: Mapped[int] = mapped_column()
    source: Mapped[str | None] = mapped_column(sa.Text)  # None: the file default
    author: Mapped[str | None] = mapped_column(sa.String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
