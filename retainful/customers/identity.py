"""Finding the one customer behind a cart or order, and keeping their contact data and consent current."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import phonenumbers
import sqlalchemy as sa
from babel import Locale, UnknownLocaleError

from retainful import clock
from retainful.channels import names
from retainful.customers import suppression
from retainful.errors import FieldError
from retainful.extensions import db
from retainful.models import ConsentEvent, Customer, Store

PROFILE_FIELDS = ("first_name", "last_name", "locale", "birthday")
# last_seen_at only feeds the retention purge, which counts in days: refreshing it at most this often spares a
# customer UPDATE on nearly every report of a returning shopper.
LAST_SEEN_PRECISION = timedelta(hours=1)


class ContactError(FieldError):
    """An email or phone that cannot be used."""


def normalise_email(raw: str) -> str:
    """Trim and lower-case the domain (the local part is case-sensitive by the RFC, so it is kept)."""
    value = raw.strip()
    local, sep, domain = value.rpartition("@")
    if not sep or not local or not domain or " " in value:
        raise ContactError("email", "Not a valid email address.")
    return f"{local}@{domain.lower()}"


def normalise_phone(raw: str, default_region: str | None) -> str:
    """Parse into E.164, reading numbers without a country code as the store's country."""
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        raise ContactError("phone", "Not a valid phone number.") from None
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
        raise ContactError("phone", "Not a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def country_of(phone: str | None, locale: str | None) -> str | None:
    """A customer's country (ISO 3166 alpha-2): the E.164 number's region, else the locale's territory."""
    if phone:
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(phone))
        except phonenumbers.NumberParseException:
            region = None
        if region and region != "001":  # 001: a non-geographic number
            return region
    if locale:
        try:
            territory = Locale.parse(locale.replace("-", "_")).territory
        except (UnknownLocaleError, ValueError, TypeError):
            return None
        if territory and len(territory) == 2 and territory.isalpha():  # not a UN region such as es_419
            return territory
    return None


def _lookup(key: sa.ColumnElement) -> sa.Select:
    """The store's first customer whose ``key`` equals the ``value`` parameter."""
    return (sa.select(Customer).where(Customer.store_id == sa.bindparam("store_id"), key == sa.bindparam("value"))
            .order_by(Customer.id).limit(1))


# Built once, so each request reuses their cache keys and compiled SQL instead of constructing the statements anew.
_BY_EXTERNAL_ID = _lookup(Customer.external_id)
_BY_EMAIL = _lookup(sa.func.lower(Customer.email))
_BY_PHONE = _lookup(Customer.phone)


def _find(store: Store, external_id: str | None, email: str | None, phone: str | None) -> Customer | None:
    keys = ((_BY_EXTERNAL_ID, external_id), (_BY_EMAIL, email.lower() if email else None), (_BY_PHONE, phone))
    for lookup, value in keys:
        if value:
            found = db.session.scalar(lookup, {"store_id": store.id, "value": value})
            if found is not None:
                return found
    return None


def _update(customer: Customer, field: str, value: Any) -> None:
    """Set a field only when the value differs, so a report that repeats what we know leaves the customer clean."""
    if getattr(customer, field) != value:
        setattr(customer, field, value)


def apply_consent(customer: Customer, channel: str, granted: bool, source: str) -> None:
    """Record a consent change with its time and source; a repeat of the stored answer records nothing."""
    if getattr(customer, f"{channel}_consent") is granted:
        return
    now = clock.now()
    setattr(customer, f"{channel}_consent", granted)
    setattr(customer, f"{channel}_consent_at", now)
    setattr(customer, f"{channel}_consent_source", source)
    customer.consent_events.append(
        ConsentEvent(store_id=customer.store_id, channel=channel, granted=granted, source=source, at=now)
    )


def match_customer(store: Store, data: dict[str, Any] | None, source: str) -> Customer | None:
    """The store's customer for this contact data (by external id, then email, then phone), created if new.

    Fields present in ``data`` update the customer; absent ones (including consent flags) leave it as it was.
    Returns None when ``data`` identifies nobody (a guest who gave no contact details yet).
    """
    if not data:
        return None
    external_id = data.get("external_id")
    email = normalise_email(data["email"]) if data.get("email") else None
    phone = normalise_phone(data["phone"], store.country) if data.get("phone") else None
    customer = _find(store, external_id, email, phone)
    if customer is None:
        if not (external_id or email or phone):
            return None
        customer = Customer(store_id=store.id)
        db.session.add(customer)
    if external_id and customer.external_id is None:
        customer.external_id = external_id  # a guest who registered: same person, now with an account
    if email and customer.email != email:
        customer.email = email
        suppression.recall(customer)  # an address that bounced stays suppressed after its owner was erased
    if phone:
        _update(customer, "phone", phone)
    for field in PROFILE_FIELDS:
        if data.get(field) is not None:
            _update(customer, field, data[field])
    if phone or data.get("locale") is not None:
        _update(customer, "country", country_of(customer.phone, customer.locale))
    for channel in names():
        granted = data.get(f"{channel}_consent")
        if granted is not None:
            apply_consent(customer, channel, granted, source)
    now = clock.now()
    if customer.last_seen_at is None or now - customer.last_seen_at >= LAST_SEEN_PRECISION:
        customer.last_seen_at = now
    return customer
