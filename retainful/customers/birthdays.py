"""Customers' birthdays: ``MM-DD`` or ``YYYY-MM-DD``, checked once at the edge, and the day they fall on in a year."""
from __future__ import annotations

import calendar
import re
from datetime import date

from retainful import clock
from retainful.errors import FieldError

EARLIEST_YEAR = 1900
_FORM = re.compile(r"^(?:([0-9]{4})-)?([0-9]{2})-([0-9]{2})$")
LEAP_YEAR = 2000  # a year in which every month-day exists (Feb 29 included)


def parse_birthday(value: str, field: str = "birthday") -> str:
    """The birthday as stored: ``MM-DD`` (Feb 29 allowed) or ``YYYY-MM-DD``, a real date from 1900 to today."""
    match = _FORM.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise FieldError(field, "A date as MM-DD or YYYY-MM-DD.")
    year, month, day = (int(part) if part else None for part in match.groups())
    try:
        born = date(year or LEAP_YEAR, month, day)
    except ValueError:
        raise FieldError(field, "Not a real date.") from None
    if year is None:
        return born.isoformat()[5:]
    if year < EARLIEST_YEAR or born > clock.now().date():
        raise FieldError(field, f"A year from {EARLIEST_YEAR} to this one, and not a day in the future.")
    return born.isoformat()


def month_day(birthday: str) -> tuple[int, int]:
    """(month, day) of a stored birthday."""
    month, day = birthday[-5:].split("-")
    return int(month), int(day)


def birthday_in(birthday: str, year: int) -> date:
    """The day the birthday is celebrated in ``year``: Feb 29 falls on Feb 28 when the year has none."""
    month, day = month_day(birthday)
    if (month, day) == (2, 29) and not calendar.isleap(year):
        return date(year, 2, 28)
    return date(year, month, day)
