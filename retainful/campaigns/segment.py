"""Who a campaign reaches: a table of segment filters, each one small function in a registry that turns its JSON value
into a SQL condition on the customer. Consent on each chosen channel is always applied (:func:`reachable_on`):
a customer is in the segment when at least one chosen channel may carry marketing to them.

A filter's value is validated by its marshmallow field; errors name ``segment.<filter>[.<part>]``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from retainful import clock
from retainful.channels import channel
from retainful.errors import FieldError
from retainful.extensions import db
from retainful.models import Cart, Customer, Order, Store
from retainful.money import MAX_AMOUNT
from retainful.orders.attribution import VOID_STATUSES
from retainful.words import N_, Said

SAMPLE_SIZE = 10
MAX_LIST = 300  # countries or locales in one filter


@dataclass(frozen=True)
class Filter:
    name: str
    field: Callable[[], fields.Field]  # a fresh marshmallow field validating the JSON value
    condition: Callable[[Any, Store], sa.ColumnElement[bool]]
    description: str


FILTERS: dict[str, Filter] = {}


def register(name: str, field: Callable[[], fields.Field], description: str):
    """Add a filter (decorating its condition function); the registry's order is the order of documents and forms."""
    def add(condition):
        FILTERS[name] = Filter(name, field, condition, description)
        return condition
    return add


def local_instant(moment: datetime, zone: str) -> datetime | None:
    """A time given with its offset, as UTC; a naive one read on the store's clock. None outside the service's dates
    (clock.within_bounds)."""
    try:
        instant = clock.ensure_utc(moment if moment.tzinfo is not None else moment.replace(tzinfo=ZoneInfo(zone)))
    except (OverflowError, ValueError):
        return None
    return instant if clock.within_bounds(instant) else None


class Range(Schema):
    """``{"min", "max"}``, both optional, min <= max."""

    @validates_schema
    def _ordered(self, data, **kwargs):
        if data.get("min") is not None and data.get("max") is not None and data["min"] > data["max"]:
            raise ValidationError(N_("Must not exceed max."), "min")


class CountRange(Range):
    min = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=0, max=10**9))
    max = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=0, max=10**9))


class AmountRange(Range):
    min = fields.Decimal(allow_none=True, as_string=True, validate=validate.Range(min=0, max=MAX_AMOUNT))
    max = fields.Decimal(allow_none=True, as_string=True, validate=validate.Range(min=0, max=MAX_AMOUNT))


def _between(expression, bounds: dict) -> sa.ColumnElement[bool]:
    conditions = []
    if bounds.get("min") is not None:
        conditions.append(expression >= bounds["min"])
    if bounds.get("max") is not None:
        conditions.append(expression <= bounds["max"])
    return sa.and_(sa.true(), *conditions)


def _counted_orders(store: Store):
    """The customer's orders that bring revenue (voided ones are not orders for a segment)."""
    return sa.and_(Order.customer_id == Customer.id, Order.store_id == store.id, Order.status.notin_(VOID_STATUSES))


@register("last_order_before", fields.DateTime,
          "Customers whose last order was before this time (store-local ISO time unless it has an offset).")
def _last_order_before(value, store):
    return Customer.last_order_at < local_instant(value, store.timezone)


@register("last_order_after", fields.DateTime,
          "Customers whose last order was after this time (store-local ISO time unless it has an offset).")
def _last_order_after(value, store):
    return Customer.last_order_at > local_instant(value, store.timezone)


@register("order_count", lambda: fields.Nested(CountRange),
          "Orders placed (cancelled, refunded, failed ones left out): {\"min\", \"max\"}, either optional.")
def _order_count(value, store):
    count = sa.select(sa.func.count(Order.id)).where(_counted_orders(store)).scalar_subquery()
    return _between(count, value)


@register("total_spent", lambda: fields.Nested(AmountRange),
          "Total of those orders less refunds, in the store's currency: {\"min\", \"max\"} as decimal strings.")
def _total_spent(value, store):
    spent = sa.select(sa.func.coalesce(sa.func.sum(Order.total - Order.refunded), 0)).where(
        _counted_orders(store), Order.currency == store.currency).scalar_subquery()
    return _between(spent, value)


@register("abandoned_cart_within_days", lambda: fields.Integer(strict=True, validate=validate.Range(min=1, max=3650)),
          "Customers who abandoned a cart in the last N days.")
def _abandoned_within(value, store):
    since = clock.now() - timedelta(days=value)
    return sa.exists().where(Cart.customer_id == Customer.id, Cart.store_id == store.id, Cart.abandoned_at >= since)


@register("country", lambda: fields.List(fields.String(validate=validate.Regexp(
    r"^[A-Za-z]{2}$", error="An ISO 3166 two-letter code such as KR.")), validate=validate.Length(min=1, max=MAX_LIST)),
    "ISO 3166 codes: the customer's phone number's country, else their locale's.")
def _country(value, store):
    return Customer.country.in_(sorted({code.upper() for code in value}))


@register("locale", lambda: fields.List(fields.String(validate=validate.Regexp(
    r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})?$", error="A locale such as de_DE, or a language such as de.")),
    validate=validate.Length(min=1, max=MAX_LIST)),
    "Locales (de_DE matches de_DE and de-DE) or languages (de matches every German locale).")
def _locale(value, store):
    conditions = []
    for name in {v.lower().replace("-", "_") for v in value}:
        locale = sa.func.lower(sa.func.replace(Customer.locale, "-", "_"))
        conditions.append(locale == name)
        if "_" not in name:
            conditions.append(sa.func.substr(locale, 1, len(name) + 1) == f"{name}_")
    return sa.or_(*conditions)


def _documented(entry: Filter) -> fields.Field:
    field = entry.field()
    field.metadata = {**field.metadata, "description": entry.description}
    return field


SegmentSchema = Schema.from_dict({name: _documented(entry) for name, entry in FILTERS.items()}, name="SegmentIn")


def first_error(messages: Any, path: str) -> tuple[str, str]:
    """Marshmallow's nested messages: the first one, with its dotted path."""
    while isinstance(messages, dict):
        key, messages = next(iter(messages.items()))
        path = f"{path}.{key}" if path else str(key)
    return path, messages[0] if isinstance(messages, list) else str(messages)


def parse(raw: Any, store: Store) -> dict[str, Any]:
    """A segment's JSON validated, as stored (times and amounts as strings): unknown filters and bad values are
    FieldErrors naming ``segment.<path>``."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise FieldError("segment", N_("Must be an object of filters."))
    unknown = sorted(set(raw) - set(FILTERS))
    if unknown:
        raise FieldError(f"segment.{unknown[0]}"[:80], N_("Not a filter; one of %(filters)s.",
                                                          filters=", ".join(FILTERS)))
    try:
        loaded = SegmentSchema().load(raw)
    except ValidationError as error:
        raise FieldError(*first_error(error.messages, "segment")) from None
    for name, value in loaded.items():
        if isinstance(value, datetime):
            if local_instant(value, store.timezone) is None:
                raise FieldError(f"segment.{name}", date_bounds())
    return SegmentSchema().dump({name: value for name, value in loaded.items() if value is not None})


def date_bounds() -> Said:
    """The refusal of a time outside the service's dates."""
    return N_("Between %(earliest)s and %(latest)s.", earliest=clock.EARLIEST_DATE, latest=clock.LATEST_DATE)


def reachable_on(channels: list[str]) -> sa.ColumnElement[bool]:
    """At least one of these channels may carry marketing to the customer (consent, address, no opt-out)."""
    return sa.or_(*(channel(name).marketing_condition(Customer) for name in channels))


def conditions(store: Store, segment: dict[str, Any], channels: list[str]) -> list[sa.ColumnElement[bool]]:
    """The WHERE of a segment: the store, the consent on the chosen channels, then each filter's condition."""
    stored = SegmentSchema().load(segment)  # JSON as saved (dates as strings) back to values
    return [Customer.store_id == store.id, reachable_on(channels),
            *(FILTERS[name].condition(value, store) for name, value in stored.items() if value is not None)]


def count(store: Store, segment: dict[str, Any], channels: list[str]) -> int:
    return db.session.scalar(sa.select(sa.func.count(Customer.id)).where(*conditions(store, segment, channels)))


def sample(store: Store, segment: dict[str, Any], channels: list[str], size: int = SAMPLE_SIZE) -> list[Customer]:
    """The segment's newest customers, for a preview."""
    return list(db.session.scalars(sa.select(Customer).where(*conditions(store, segment, channels))
                                   .order_by(Customer.id.desc()).limit(size)))


def batch(store: Store, segment: dict[str, Any], channels: list[str], after_id: int, size: int) -> list[Customer]:
    """The next ``size`` customers of the segment after customer ``after_id`` (the expander's cursor)."""
    return list(db.session.scalars(sa.select(Customer).where(*conditions(store, segment, channels),
                                                             Customer.id > after_id)
                                   .order_by(Customer.id).limit(size)))
