"""Leaving: email unsubscribe and SMS opt-out. Each is recorded as consent evidence and stops what is pending."""
from __future__ import annotations

from retainful import clock
from retainful.customers.identity import apply_consent
from retainful.extensions import db
from retainful.models import Customer
from retainful.messaging.outbox import cancel as cancel_pending


def unsubscribe(customer: Customer, source: str) -> bool:
    """Stop all marketing email, and every pending message of this customer, at once. False if already done."""
    already = customer.unsubscribed_at is not None
    if not already:
        customer.unsubscribed_at = clock.now()
        apply_consent(customer, "email", False, source)
    cancel_pending(customer_id=customer.id)
    db.session.commit()
    return not already


def opt_out_sms(customer: Customer, source: str) -> bool:
    """The shopper texted STOP (or asked otherwise): no more SMS, pending ones cancelled."""
    already = customer.sms_opted_out_at is not None
    if not already:
        customer.sms_opted_out_at = clock.now()
        apply_consent(customer, "sms", False, source)
    cancel_pending(customer_id=customer.id, channel="sms")
    db.session.commit()
    return not already
