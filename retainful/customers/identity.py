"""Finding the one customer behind a cart or order, and keeping their contact data and consent current."""
from __future__ import annotations

from typing import Any

import phonenumbers
import sqlalchemy as sa

from retainful import clock
from retainful.errors import FieldError
from retainful.extensions import db
from retainful.models import CHANNELS, ConsentEvent, Customer, Store

PROFILE_FIELDS = ("first_name", "last_name", "locale")


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


def _find(store: Store, external_id: str | None, email: str | None, phone: str | None) -> Customer | None:
    scoped = sa.select(Customer).where(Customer.store_id == store.id).order_by(Customer.id).limit(1)
    keys = (
        (Customer.external_id, external_id),
        (sa.func.lower(Customer.email), email.lower() if email else None),
        (Customer.phone, phone),
    )
    for column, value in keys:
        if value:
            found = db.session.scalar(scoped.where(column == value))
            if found is not None:
                return found
    return None


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
    if email:
        customer.email = email
    if phone:
        customer.phone = phone
    for field in PROFILE_FIELDS:
        if data.get(field) is not None:
            setattr(customer, field, data[field])
    for channel in CHANNELS:
        granted = data.get(f"{channel}_consent")
        if granted is not None:
            apply_consent(customer, channel, granted, source)
    customer.last_seen_at = clock.now()
    return customer
