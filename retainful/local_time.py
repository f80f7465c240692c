"""The recipient's local time: their zone and the next given hour of their day (an automation step's ``at_hour``,
the SMS channel's quiet hours), never the store's clock by mistake.

Pure functions (no database, no clock): the zone from the phone number, else the customer's locale, else the store's
timezone; then the first instant at or after the earliest due time that is ``at_hour``:00 there. Outside the
automations package because the channel registry needs it too and the automations import the channels.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from babel import Locale, UnknownLocaleError
from phonenumbers import timezone as phone_timezones
from phonenumbers.tzdata import TIMEZONE_DATA


def phone_zone(number: phonenumbers.PhoneNumber) -> str | None:
    """The number's zone when its prefix has exactly one (most countries; not the US or Russia as a whole)."""
    zones = [z for z in phone_timezones.time_zones_for_number(number) if z != "Etc/Unknown"]
    return zones[0] if len(zones) == 1 else None


@lru_cache(maxsize=None)
def region_zone(region: str) -> str | None:
    """The zone of a country when all its numbers share one (DE, FR, JP; not the US, nor the UK with its crown
    dependencies), from phonenumbers' zones of every prefix under the country's calling code."""
    code = str(phonenumbers.country_code_for_region(region))
    if code == "0":
        return None
    zones = {zone for prefix, names in TIMEZONE_DATA.items() if prefix.startswith(code) for zone in names
             if zone != "Etc/Unknown"}
    return zones.pop() if len(zones) == 1 else None


def locale_zone(locale: str | None) -> str | None:
    """The zone of the locale's region where the region has one (de_DE, fr_FR; not en_US, pt_BR)."""
    if not locale:
        return None
    try:
        region = Locale.parse(locale.replace("-", "_")).territory
    except (UnknownLocaleError, ValueError, TypeError):
        return None
    return region_zone(region) if region else None


def recipient_zone(phone: str | None, locale: str | None, store_timezone: str) -> ZoneInfo:
    """The recipient's zone: from the E.164 phone number, else the locale's region, else the store's timezone."""
    name = None
    if phone:
        try:
            name = phone_zone(phonenumbers.parse(phone))
        except phonenumbers.NumberParseException:
            name = None
    name = name or locale_zone(locale)
    try:
        return ZoneInfo(name or store_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def at_local_hour(earliest: datetime, zone: ZoneInfo, hour: int) -> datetime:
    """The first instant >= ``earliest`` that is ``hour``:00 on the zone's clock, in ``earliest``'s zone (UTC).

    DST: an hour that does not exist that day (the spring gap) is read with the offset before the change, so it is the
    first instant after the gap (02:00 in New York on a spring-forward day is 03:00 EDT); an hour that happens twice
    (the autumn fold) is its first occurrence.
    """
    local_day = earliest.astimezone(zone).date()
    for day in (local_day, local_day + timedelta(days=1), local_day + timedelta(days=2)):
        candidate = datetime.combine(day, time(hour), tzinfo=zone).astimezone(earliest.tzinfo)
        if candidate >= earliest:
            return candidate
    raise AssertionError("unreachable: a day later is always later")
