"""The one table of store settings a store owner may change, with the rule each value must keep, and the one check
that the CLI (``configure-store``), the admin's settings page and the store services all run.

``errors(values)`` answers by field name (every bad field, not the first); ``check(values)`` raises a
StoreSettingsError carrying them. Rules that tie fields together (a percentage coupon at most 100, the SMS sender's
shape) live here too, so no caller adds its own. The WooCommerce connection is not here: ``options.connect_woocommerce``
checks it (the shop URL's address has to be resolved)."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from retainful import egress
from retainful.models import DiscountType


class StoreSettingsError(ValueError):
    """A store setting is invalid; the message names it, ``errors`` maps each bad field to what is wrong."""

    def __init__(self, message: str, errors: Mapping[str, str] | None = None):
        super().__init__(message)
        name, _, reason = message.partition(": ")
        self.errors = dict(errors) if errors is not None else {name: reason}


MAX_AMOUNT = Decimal("1e14")


@dataclass(frozen=True)
class Setting:
    """One setting and its rule: a whole number in [low, high], text of at most ``max_length``, a flag, an amount,
    one of ``choices``, or a time zone."""

    kind: str  # "whole", "text", "flag", "amount", "choice", "timezone", "url"
    low: int = 0
    high: int = 0
    max_length: int = 0
    choices: tuple[str, ...] = ()

    def error(self, value: Any) -> str | None:
        """What is wrong with ``value`` (the text after "<name>: "), or None."""
        if self.kind == "whole":
            if isinstance(value, bool) or not isinstance(value, int) or not self.low <= value <= self.high:
                return f"must be a whole number from {self.low} to {self.high}"
        elif self.kind == "text":
            if value is not None and (not isinstance(value, str) or len(value) > self.max_length):
                return f"at most {self.max_length} characters"
        elif self.kind == "flag":
            if not isinstance(value, bool):
                return "must be true or false"
        elif self.kind == "amount":
            return _amount_error(value)
        elif self.kind == "choice":
            if value not in self.choices:
                return f"one of {', '.join(self.choices)}"
        elif self.kind == "url":
            return _url_error(value, self.max_length)
        elif self.kind == "timezone":
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError, TypeError):
                return f"unknown time zone {value!r}"
        return None


def _amount_error(value: Any) -> str | None:
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return "not a number"
    if not amount.is_finite() or amount < 0 or amount >= MAX_AMOUNT:
        return "must be zero or more"
    return None


def _url_error(value: Any, max_length: int) -> str | None:
    """A URL we will POST to (None or "" clears it): the SSRF guard's save-time check, https at a public address
    without credentials or query (``ALLOW_PRIVATE_SHOP_URLS`` lets local development use http and private ones)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > max_length:
        return f"an https URL of at most {max_length} characters"
    try:
        egress.check_shop_url(value)
    except egress.ShopUrlError as error:
        return str(error)
    return None


def _whole(low: int, high: int) -> Setting:
    return Setting("whole", low=low, high=high)


def _text(max_length: int) -> Setting:
    return Setting("text", max_length=max_length)


SETTINGS: dict[str, Setting] = {
    "abandon_after_minutes": _whole(1, 24 * 60),
    "retention_days": _whole(1, 3650),
    "quiet_hours_start": _whole(0, 23),
    "quiet_hours_end": _whole(0, 23),
    "email_cap_hours": _whole(0, 24 * 30),
    "sms_cap_hours": _whole(0, 24 * 30),
    "holdout_percent": _whole(0, 50),
    "attribution_window_days": _whole(1, 60),
    "next_order_valid_days": _whole(1, 365),
    "sender_email": _text(254),
    "sender_name": _text(100),
    "sms_sender": _text(15),
    "postal_address": _text(500),
    "name": _text(200),
    "next_order_statuses": _text(200),
    "paused": Setting("flag"),
    "next_order_enabled": Setting("flag"),
    "next_order_first_only": Setting("flag"),
    "next_order_allow_chained": Setting("flag"),
    "next_order_type": Setting("choice", choices=DiscountType.ALL),
    "next_order_amount": Setting("amount"),
    "next_order_minimum": Setting("amount"),
    "timezone": Setting("timezone"),
    # Conversations (retainful/conversations/): the persona replies are signed with, the marketing pause, the
    # helpdesk webhook.
    "persona_name": _text(100),
    "persona_signature": _text(500),
    "conversation_pause_hours": _whole(0, 24 * 30),
    "conversation_webhook_url": Setting("url", max_length=500),
}


def errors(values: Mapping[str, Any]) -> dict[str, str]:
    """Every bad value by field name (an empty dict: all good), the fields' own rules and the rules across them."""
    found = {}
    for name, value in values.items():
        setting = SETTINGS.get(name)
        reason = "not a store setting" if setting is None else setting.error(value)
        if reason is not None:
            found[name] = reason
    sender = values.get("sms_sender")
    if sender and "sms_sender" not in found and not (sender.isalnum() and len(sender) <= 11
                                                     or sender.lstrip("+").isdigit()):
        found["sms_sender"] = "up to 11 letters and digits, or a phone number"
    if "next_order_amount" in values and "next_order_amount" not in found:
        reason = _coupon_amount_error(values.get("next_order_type"), values["next_order_amount"])
        if reason:
            found["next_order_amount"] = reason
    return found


def _coupon_amount_error(discount_type: str | None, amount: Any) -> str | None:
    if discount_type == DiscountType.FREE_SHIPPING or amount is None or amount == "":
        return "required" if discount_type in (DiscountType.PERCENT, DiscountType.FIXED) else None
    value = Decimal(str(amount))
    if discount_type == DiscountType.PERCENT and not 0 < value <= 100:
        return "a percentage above 0 and at most 100"
    if discount_type == DiscountType.FIXED and not value > 0:
        return "a positive amount"
    return None


def check(values: Mapping[str, Any]) -> None:
    """Raise StoreSettingsError naming every bad field ("retention_days: must be ..."), or return."""
    found = errors(values)
    if found:
        raise StoreSettingsError("; ".join(f"{name}: {reason}" for name, reason in found.items()), found)
