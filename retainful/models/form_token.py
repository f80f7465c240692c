"""One-time tokens of admin forms whose effect must happen once (an agent's reply): a double-click or a resubmitted
form carries a token already used, and the unique key refuses the second insert in the same transaction as the
effect, so exactly one request does it even when both arrive together."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from retainful import clock
from retainful.extensions import db
from retainful.models.types import UTCDateTime


class FormToken(db.Model):
    __tablename__ = "form_token"

    token: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now, index=True)
