"""The one table of store settings a store owner may change, with the rule each value must keep, and the one check
that the CLI (``configure-store``), the admin's settings page and the store services all run.

``errors(values)`` answers by field name (every bad field, not the first); ``check(values)`` raises a
StoreSettingsError carrying them. Each setting has its label and help in words, which the admin's form shows at the
field (with the error there) and the CLI's errors keep the field names. Labels, help and reasons
are marked words (``N_``): English here and in the CLI, the reader's language in the admin. Rules that tie fields
together (a percentage coupon at most 100, the SMS sender's shape) live here too, so no caller adds its own. The WooCommerce connection is not here: ``options.connect_woocommerce``
checks it (the shop URL's address has to be resolved)."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from retainful import egress
from retainful.words import N_
from retainful.models import DiscountType


class StoreSettingsError(ValueError):
    """A store setting is invalid; the message names it, ``errors`` maps each bad field to what is wrong."""

    def __init__(self, message: str, errors: Mapping[str, str] | None = None):
        super().__init__(message)
        name, _, reason = message.partition(": ")
        self.errors = dict(errors) if errors is not None else {name: reason}

    @classmethod
    def of(cls, name: str, reason: str) -> "StoreSettingsError":
        """One bad field, its reason kept as given (marked words the admin translates)."""
        return cls(f"{name}: {reason}", {name: reason})


MAX_AMOUNT = Decimal("1e14")


@dataclass(frozen=True)
class Setting:
    """One setting and its rule: a whole number in [low, high], text of at most ``max_length``, a flag, an amount,
    one of ``choices``, or a time zone; its ``label`` and ``help`` say what it does in words."""

    kind: str  # "whole", "text", "flag", "amount", "choice", "timezone", "url"
    low: int = 0
    high: int = 0
    max_length: int = 0
    choices: tuple[str, ...] = ()
    label: str = ""
    help: str = ""

    @property
    def input_type(self) -> str:
        """The HTML input for it (the admin's form field macro)."""
        return {"whole": "number", "flag": "checkbox", "choice": "select", "timezone": "select",
                "url": "url"}.get(self.kind, "text")

    @property
    def input_attrs(self) -> dict[str, Any]:
        """The browser-side form of its rule: min and max of a whole number, maxlength of a text."""
        if self.kind == "whole":
            return {"min": self.low, "max": self.high, "step": 1, "required": True}
        if self.kind in ("text", "url"):
            return {"maxlength": self.max_length}
        if self.kind == "amount":
            return {"inputmode": "decimal"}
        return {}

    def error(self, value: Any) -> str | None:
        """What is wrong with ``value`` (the text after "<name>: "), or None."""
        if self.kind == "whole":
            if isinstance(value, bool) or not isinstance(value, int) or not self.low <= value <= self.high:
                return N_("must be a whole number from %(low)s to %(high)s", low=self.low, high=self.high)
        elif self.kind == "text":
            if value is not None and (not isinstance(value, str) or len(value) > self.max_length):
                return N_("at most %(max)s characters", max=self.max_length)
        elif self.kind == "flag":
            if not isinstance(value, bool):
                return N_("must be true or false")
        elif self.kind == "amount":
            return _amount_error(value)
        elif self.kind == "choice":
            if value not in self.choices:
                return N_("one of %(choices)s", choices=", ".join(self.choices))
        elif self.kind == "url":
            return _url_error(value, self.max_length)
        elif self.kind == "timezone":
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError, TypeError):
                return N_("unknown time zone %(value)r", value=value)
        return None


def _amount_error(value: Any) -> str | None:
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return N_("not a number")
    if not amount.is_finite() or amount < 0 or amount >= MAX_AMOUNT:
        return N_("must be zero or more")
    return None


def _url_error(value: Any, max_length: int) -> str | None:
    """A URL we will POST to (None or "" clears it): the SSRF guard's save-time check, https at a public address
    without credentials or query (``ALLOW_PRIVATE_SHOP_URLS`` lets local development use http and private ones)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > max_length:
        return N_("an https URL of at most %(max)s characters", max=max_length)
    try:
        egress.check_shop_url(value)
    except egress.ShopUrlError as error:
        return error.reason
    return None


def _whole(low: int, high: int, label: str, help: str = "") -> Setting:
    return Setting("whole", low=low, high=high, label=label, help=help)


def _text(max_length: int, label: str, help: str = "") -> Setting:
    return Setting("text", max_length=max_length, label=label, help=help)


SETTINGS: dict[str, Setting] = {
    "abandon_after_minutes": _whole(1, 24 * 60, N_("Cart abandoned after (minutes)"),
                                    N_("Minutes without activity before a cart counts as abandoned and recovery "
                                       "starts.")),
    "retention_days": _whole(1, 3650, N_("Keep carts and messages (days)"),
                             N_("Older carts, their messages and events are deleted.")),
    "customer_retention_days": _whole(1, 3650, N_("Keep customers after an order (days)"),
                                      N_("A customer with no order or cart for this long is deleted.")),
    "quiet_hours_start": _whole(0, 23, N_("Quiet hours start (hour)"),
                                N_("No SMS goes out from this hour, in the recipient's local time (0 to 23).")),
    "quiet_hours_end": _whole(0, 23, N_("Quiet hours end (hour)"),
                              N_("SMS held back go out from this hour (0 to 23).")),
    "email_cap_hours": _whole(0, 24 * 30, N_("At most one email every (hours)"),
                              N_("Across all of a customer's carts; 0 means no cap.")),
    "sms_cap_hours": _whole(0, 24 * 30, N_("At most one SMS every (hours)"),
                            N_("Across all of a customer's carts; 0 means no cap.")),
    "holdout_percent": _whole(0, 50, N_("Share of abandoned carts never messaged (%)"),
                              N_("The control group measures true lift (the holdout report). 0 turns it off; 10 is "
                                 "a sensible choice once the store has traffic.")),
    "attribution_window_days": _whole(1, 60, N_("Credit an order to a message for (days)")),
    "next_order_valid_days": _whole(1, 365, N_("Valid for (days)")),
    "sender_email": _text(254, N_("Sender address"), N_("The From address of every email.")),
    "sender_name": _text(100, N_("Sender name"), N_("The From name of every email; the store's name when empty.")),
    "sms_sender": _text(15, N_("SMS sender"), N_("Up to 11 letters and digits, or a phone number.")),
    "postal_address": _text(500, N_("Postal address"), N_("Shown in every email, as anti-spam laws require.")),
    "name": _text(200, N_("Store name")),
    "next_order_statuses": _text(200, N_("Order statuses that earn it"),
                                 N_("Comma-separated, e.g. processing,completed.")),
    "paused": Setting("flag", label=N_("Paused: send nothing to this store's customers")),
    "next_order_enabled": Setting("flag", label=N_("Send a coupon for the next order after a qualifying order")),
    "next_order_first_only": Setting("flag", label=N_("First orders only")),
    "next_order_allow_chained": Setting("flag", label=N_("An order that used a next-order coupon earns another")),
    "next_order_type": Setting("choice", choices=DiscountType.ALL, label=N_("Discount")),
    "next_order_amount": Setting("amount", label=N_("Amount (a percentage, or in the store's currency)")),
    "next_order_minimum": Setting("amount", label=N_("Minimum order (optional)")),
    "timezone": Setting("timezone", label=N_("Time zone"),
                        help=N_("Report days and send hours when a customer's own zone is unknown.")),
    # Conversations (retainful/conversations/): the persona replies are signed with, the marketing pause, the
    # helpdesk webhook.
    "persona_name": _text(100, N_("Display name"), N_("Agents' replies are signed with this name (the store's name "
                                                      "when empty).")),
    "persona_signature": _text(500, N_("Signature")),
    "conversation_pause_hours": _whole(0, 24 * 30, N_("Pause marketing during a conversation (hours)")),
    "conversation_webhook_url": Setting("url", max_length=500, label=N_("Helpdesk webhook URL")),
}
# Fields of the settings forms checked elsewhere (the WooCommerce connection: options.connect_woocommerce).
OTHER_LABELS = {"woo_url": N_("Shop address"), "woo_consumer_key": N_("Consumer key"),
                "woo_consumer_secret": N_("Consumer secret")}


def label(name: str) -> str:
    """A field's name in words (the name itself for one that has none)."""
    setting = SETTINGS.get(name)
    return setting.label if setting is not None else OTHER_LABELS.get(name, name)


def errors(values: Mapping[str, Any]) -> dict[str, str]:
    """Every bad value by field name (an empty dict: all good), the fields' own rules and the rules across them."""
    found = {}
    for name, value in values.items():
        setting = SETTINGS.get(name)
        reason = N_("not a store setting") if setting is None else setting.error(value)
        if reason is not None:
            found[name] = reason
    sender = values.get("sms_sender")
    if sender and "sms_sender" not in found and not (sender.isalnum() and len(sender) <= 11
                                                     or sender.lstrip("+").isdigit()):
        found["sms_sender"] = N_("up to 11 letters and digits, or a phone number")
    if "next_order_amount" in values and "next_order_amount" not in found:
        reason = _coupon_amount_error(values.get("next_order_type"), values["next_order_amount"])
        if reason:
            found["next_order_amount"] = reason
    return found


def _coupon_amount_error(discount_type: str | None, amount: Any) -> str | None:
    if discount_type == DiscountType.FREE_SHIPPING or amount is None or amount == "":
        return N_("required") if discount_type in (DiscountType.PERCENT, DiscountType.FIXED) else None
    value = Decimal(str(amount))
    if discount_type == DiscountType.PERCENT and not 0 < value <= 100:
        return N_("a percentage above 0 and at most 100")
    if discount_type == DiscountType.FIXED and not value > 0:
        return N_("a positive amount")
    return None


def check(values: Mapping[str, Any]) -> None:
    """Raise StoreSettingsError naming every bad field ("retention_days: must be ..."), or return."""
    found = errors(values)
    if found:
        raise StoreSettingsError("; ".join(f"{name}: {reason}" for name, reason in found.items()), found)
