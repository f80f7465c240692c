"""GDPR erasure of one customer: their personal data goes, what is pending for them is cancelled.

What stays: the customer row itself (anonymous), their carts and orders (amounts and items, so the store's revenue
reports stay true), the outbox rows without recipient or content (so the funnel still counts what was sent), and the
consent events, which hold no personal data but are the store's evidence of when consent was given or withdrawn.
Coupons keep their code and amounts but lose the email they were bound to. The clearing itself is
:func:`retainful.customers.anonymise.anonymise`, the same step the retention purge takes.
"""
from __future__ import annotations

from retainful.customers.anonymise import anonymise
from retainful.extensions import db
from retainful.models import Customer


def is_erased(customer: Customer) -> bool:
    """True when no personal data is left on the customer row."""
    return not any(getattr(customer, field) for field in ("email", "phone", "first_name", "last_name",
                                                          "external_id"))


def erase_customer(customer: Customer) -> dict[str, int]:
    """Erase the customer's personal data and cancel their pending messages, in one commit. Returns counts.

    A message a worker is sending at this moment may still go out, but its outcome is not written back to the row.
    """
    counts = anonymise(customer.store_id, [customer.id])
    db.session.commit()
    return counts
