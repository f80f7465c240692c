"""The one source of "now" for the whole service.

Code never calls ``datetime.now()``: it calls :func:`now`, which is always UTC and timezone-aware. Tests move time with
:func:`freeze` / :func:`advance` instead of sleeping, so every time-based rule (cut-offs, delays, quiet hours) is testable.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone

UTC = timezone.utc
# The dates the service accepts from outside (orders, reports): far enough back for any shop's history, far enough
# ahead for any plan, and well inside what datetime can convert between zones (year 1 and 9999 overflow).
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2100, 12, 31)

_lock = threading.Lock()
_frozen: datetime | None = None


def now() -> datetime:
    """The current time, UTC, timezone-aware."""
    frozen = _frozen
    return frozen if frozen is not None else datetime.now(UTC)


def freeze(at: datetime) -> None:
    """Stop the clock at ``at`` (tests and simulations)."""
    global _frozen
    with _lock:
        _frozen = ensure_utc(at)


def advance(delta: timedelta) -> datetime:
    """Move a frozen clock forward; freezes it at the real time first if it was running."""
    global _frozen
    with _lock:
        _frozen = (_frozen or datetime.now(UTC)) + delta
        return _frozen


@contextmanager
def restored():
    """Put the clock back as it was (frozen where it stood, or running) after a simulation has moved it."""
    global _frozen
    saved = _frozen
    try:
        yield
    finally:
        with _lock:
            _frozen = saved


def unfreeze() -> None:
    """Let the clock run with real time again."""
    global _frozen
    with _lock:
        _frozen = None


def ensure_utc(value: datetime) -> datetime:
    """Convert an aware datetime to UTC; a naive one is refused because its zone is unknowable, and one whose UTC
    time is outside what datetime holds (0001-01-01 at +14:00) raises ValueError rather than OverflowError."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: a timezone is required")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("datetime out of range") from None


def within_bounds(value: datetime) -> bool:
    """Whether an aware datetime falls on a UTC date from EARLIEST_DATE to LATEST_DATE."""
    try:
        return EARLIEST_DATE <= ensure_utc(value).date() <= LATEST_DATE
    except ValueError:
        return False
