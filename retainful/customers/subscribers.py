"""Subscribing: a shopper leaves an email and/or phone in a sign-up form (a popup, the footer) without a cart.

The subscriber is the store's customer for that contact data (the same identity matching as carts and orders), so
one shopper is one customer whichever way they arrived. Consent is recorded with the form as its source. The first
subscription is remembered (``subscribed_at``); a repeat changes the contact data and consent but is no new
subscriber, so what starts with a subscription (the welcome series) starts once.
"""
from __future__ import annotations

from typing import Any

from retainful import clock
from retainful.automations import welcome
from retainful.customers.identity import match_customer
from retainful.errors import FieldError
from retainful.extensions import db
from retainful.models import Customer, Store

OPTED_OUT_AT = {"email": "unsubscribed_at", "sms": "sms_opted_out_at"}  # per channel: when the shopper left it


def subscribe(store: Store, data: dict[str, Any], source: str) -> tuple[Customer, bool]:
    """Record the subscription; returns (customer, new subscriber). ``data`` is a customer object with ``email``
    and/or ``phone``. An explicit consent in a form the shopper filled in is a new opt-in: it lifts an earlier
    unsubscribe or SMS opt-out of that channel."""
    if not (data.get("email") or data.get("phone")):
        raise FieldError("email", "An email or a phone is required to subscribe.")
    customer = match_customer(store, data, source=source)
    for channel, opted_out_at in OPTED_OUT_AT.items():
        if data.get(f"{channel}_consent") is True:
            setattr(customer, opted_out_at, None)
    new = customer.subscribed_at is None
    if new:
        customer.subscribed_at = clock.now()
        db.session.flush()
        welcome.start(store, customer)
    db.session.commit()
    return customer, new
