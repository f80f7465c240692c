"""Column types shared by the models: aware UTC datetimes on every database, exact money."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from retainful.clock import UTC, ensure_utc

MAX_ID = 2 ** 31 - 1  # a larger id is no row's, and PostgreSQL's integer column would refuse to compare it
# Enough for any order total in any currency, with 4 places so 3-decimal currencies (KWD, BHD) stay exact.
MONEY = sa.Numeric(18, 4, asdecimal=True)


class UTCDateTime(sa.types.TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops the zone; this puts it back)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        value = ensure_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
