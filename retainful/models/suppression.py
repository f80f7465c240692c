"""Email suppressions that outlive the address: a keyed hash of the normalised email, never the email itself."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from retainful import clock
from retainful.extensions import db
from retainful.models.types import UTCDateTime


class EmailSuppression(db.Model):
    """A bounced or invalid address whose customer was erased or purged. Global, like the bounce that made it: a dead
    mailbox is dead in every store. The hash is an HMAC with the service's SECRET_KEY, so the table alone gives no
    address back, not even to someone holding a list of candidate addresses."""

    __tablename__ = "email_suppression"

    email_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    reason: Mapped[str | None] = mapped_column(sa.String(64))
    suppressed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
