"""Report periods: whole store-local days, turned into UTC bounds once so every query is an index range."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from retainful import clock
from retainful.errors import FieldError
from retainful.models import Store
from retainful.models.types import UTCDateTime
from retainful.words import N_

DEFAULT_DAYS = 30
MAX_DAYS = 731


@dataclass(frozen=True)
class Period:
    start_date: date  # store-local, inclusive
    end_date: date  # store-local, inclusive
    timezone: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def day_start(self, day: date) -> datetime:
        """The UTC instant a store-local day begins (DST-aware)."""
        return datetime.combine(day, time(0), tzinfo=self.zone).astimezone(clock.UTC)

    @property
    def start(self) -> datetime:
        return self.day_start(self.start_date)

    @property
    def end(self) -> datetime:  # exclusive
        return self.day_start(self.end_date + timedelta(days=1))

    @property
    def days(self) -> list[date]:
        return [self.start_date + timedelta(days=n) for n in range((self.end_date - self.start_date).days + 1)]

    def day_bounds(self):
        """A table (day, day_start, day_end) to bucket rows by store-local day in one query on any database
        (a UNION ALL of literal rows: SQLite has no VALUES with column names)."""
        rows = [
            sa.select(sa.literal(day.isoformat(), sa.String).label("day"),
                      sa.literal(self.day_start(day), UTCDateTime()).label("day_start"),
                      sa.literal(self.day_start(day + timedelta(days=1)), UTCDateTime()).label("day_end"))
            for day in self.days
        ]
        return sa.union_all(*rows).subquery("days")


def today(store: Store) -> date:
    return clock.now().astimezone(ZoneInfo(store.timezone)).date()


def resolve_period(store: Store, from_date: date | str | None = None, to_date: date | str | None = None,
                   days: int | str | None = None) -> Period:
    """``from``/``to`` (ISO dates, store-local, inclusive) or the last ``days`` days (default 30), ending today."""
    try:
        start = _date(from_date, "from")
        end = _date(to_date, "to")
        count = int(days) if days not in (None, "") else None
    except ValueError as error:
        raise FieldError(getattr(error, "field", "days"), str(error)) from None
    if count is not None and not 1 <= count <= MAX_DAYS:
        raise FieldError("days", N_("Between 1 and %(max)s.", max=MAX_DAYS))
    span = timedelta(days=(count or DEFAULT_DAYS) - 1)
    if start is None and end is None:
        end = today(store)
    if start is None:
        start = end - span
    elif end is None:
        end = start + span
    if start > end:
        raise FieldError("from", N_("Must not be after 'to'."))
    if (end - start).days >= MAX_DAYS:
        raise FieldError("from", N_("A period of at most %(max)s days.", max=MAX_DAYS))
    return Period(start, end, store.timezone)


class _DateError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _date(value: date | str | None, field: str) -> date | None:
    if value in (None, ""):
        return None
    if not isinstance(value, date):
        try:
            value = date.fromisoformat(value)
        except (TypeError, ValueError):
            raise _DateError(field, "An ISO date such as 2026-03-01.") from None
    if not clock.EARLIEST_DATE <= value <= clock.LATEST_DATE:  # year 1 or 9999 would overflow turned into UTC
        raise _DateError(field, f"Between {clock.EARLIEST_DATE} and {clock.LATEST_DATE}.")
    return value
