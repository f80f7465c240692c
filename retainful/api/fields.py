"""Marshmallow fields for what storefront plugins actually send: ids as strings or numbers, exact money."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from babel.numbers import list_currencies
from marshmallow import ValidationError, fields, validate

from retainful import clock
from retainful.money import MAX_AMOUNT, MONEY_STEP, format_amount

_CURRENCIES = frozenset(list_currencies())
MONEY_PATTERN = r"^\s*[0-9]{1,13}(\.[0-9]{1,4})?\s*$"  # what the document promises; JSON numbers work too


class Identifier(fields.String):
    """A shop-side id: WooCommerce sends numbers where others send strings; both become a string."""

    def __init__(self, max_length: int = 64, **kwargs):
        super().__init__(validate=validate.Length(min=1, max=max_length), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return super()._deserialize(value, attr, data, **kwargs)


class Money(fields.Field):
    """A non-negative amount as a decimal string (numbers are accepted too; the JSON parser keeps them exact)."""

    def __init__(self, **kwargs):
        documented = {"type": "string", "pattern": MONEY_PATTERN, "example": "19.99"}
        super().__init__(metadata={**documented, **kwargs.pop("metadata", {})}, **kwargs)

    default_error_messages = {
        "invalid": "Not a valid amount: send a decimal string such as \"19.99\".",
        "range": "Must be between 0 and 1000000000000.",
        "places": "At most 4 decimal places.",
    }

    def _deserialize(self, value, attr, data, **kwargs) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
            raise self.make_error("invalid")
        try:
            amount = Decimal(value.strip() if isinstance(value, str) else value)
        except (InvalidOperation, ValueError):
            raise self.make_error("invalid") from None
        if not amount.is_finite():
            raise self.make_error("invalid")
        if not Decimal(0) <= amount <= MAX_AMOUNT:
            raise self.make_error("range")
        if amount != amount.quantize(MONEY_STEP):
            raise self.make_error("places")
        return abs(amount) if amount.is_zero() else amount  # "-0" is 0, stored and echoed as "0.00"

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else format_amount(value, obj.currency)


class Currency(fields.String):
    """An ISO 4217 currency code, upper-cased."""

    def __init__(self, **kwargs):
        super().__init__(metadata={"pattern": r"^\s*[A-Za-z]{3}\s*$", "example": "USD"}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        code = super()._deserialize(value, attr, data, **kwargs).strip().upper()
        if code not in _CURRENCIES:
            raise ValidationError("Not an ISO 4217 currency code.")
        return code


class Email(fields.String):
    """An email address; surrounding whitespace (common in pasted checkout fields) is trimmed before the check."""

    def __init__(self, **kwargs):
        super().__init__(validate=[validate.Length(max=254), validate.Email()], **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        return super()._deserialize(value, attr, data, **kwargs).strip()


class Instant(fields.AwareDateTime):
    """An ISO 8601 date and time with its offset (a naive one is refused), within the service's dates, as UTC."""

    default_error_messages = {
        "range": f"Between {clock.EARLIEST_DATE} and {clock.LATEST_DATE} (UTC).",
    }

    def __init__(self, **kwargs):
        super().__init__(default_timezone=None, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        instant = super()._deserialize(value, attr, data, **kwargs)
        if not clock.within_bounds(instant):
            raise self.make_error("range")
        return clock.ensure_utc(instant)


class StrictBoolean(fields.Boolean):
    """Only JSON true or false: 1, "yes" and "true" are refused (a typo must not switch an automation on)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value
