"""Jinja filters for the admin pages: money in the store's currency, times in the store's zone, rates as percents."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.core import UnknownLocaleError
from babel.numbers import format_currency
from flask import Flask

from retainful_admin.security import current_store
from retainful.channels import channel


def money(amount: Decimal | int | float | str | None, currency: str | None = None) -> str:
    if amount is None or amount == "":
        return "–"
    store = current_store()
    currency = currency or (store.currency if store else "USD")
    try:
        return format_currency(Decimal(str(amount)), currency, locale=(store.locale if store else None) or "en_US")
    except (UnknownLocaleError, ValueError):
        return f"{amount} {currency}"


def local_time(value: datetime | str | None, seconds: bool = False) -> str:
    """A UTC time (or its ISO 8601 text, as the JSON the pages share carries it) as the store's wall clock, with the
    zone's abbreviation."""
    if value is None:
        return "–"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    store = current_store()
    local = value.astimezone(ZoneInfo(store.timezone if store else "UTC"))
    return local.strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else "")) + f" {local.tzname()}"


def number(value: Decimal | int | float | None) -> str:
    """An amount without trailing zeros: Decimal("10.0000") -> "10"."""
    if value is None:
        return ""
    text = format(Decimal(str(value)).normalize(), "f")
    return text


def percent(ratio: float | None, digits: int = 1) -> str:
    if ratio is None:
        return "–"
    return f"{float(ratio) * 100:.{digits}f}%"


def signed_percent(change: float | None) -> str:
    """A change already in percent (before/after report); None means no honest percentage exists."""
    if change is None:
        return "n/a"
    return f"{change:+.1f}%"


def recipient(message) -> str:
    """Who a message is for: the customer's name and the address it went to, or will go to while it is scheduled
    (admin users may see addresses; log lines never carry them)."""
    customer = message.customer
    address = message.recipient or (channel(message.channel).address(customer) if customer is not None else None)
    name = " ".join(part for part in (customer.first_name, customer.last_name) if part) if customer else ""
    if name and address:
        return f"{name} <{address}>"
    return name or address or "–"


def register(app: Flask) -> None:
    app.add_template_filter(money, "rt_money")
    app.add_template_filter(local_time, "rt_time")
    app.add_template_filter(percent, "rt_percent")
    app.add_template_filter(number, "rt_number")
    app.add_template_filter(signed_percent, "rt_change")
    app.add_template_filter(recipient, "rt_recipient")
