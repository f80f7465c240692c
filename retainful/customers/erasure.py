"""GDPR erasure of one customer: their personal data goes, what is pending for them is cancelled.

What stays: the customer row itself (anonymous: no email, phone, names, shop id or locale), their carts and orders
(amounts and items, so the store's revenue reports stay true), the outbox rows without recipient or content (so the
funnel still counts what was sent), and the consent events, which hold no personal data but are the store's evidence
of when consent was given or withdrawn. Coupons keep their code and amounts but lose the email they were bound to.
"""
from __future__ import annotations

import sqlalchemy as sa

from retainful.carts.sweeps import ERASED_CUSTOMER_FIELDS
from retainful.extensions import db
from retainful.models import Cart, Coupon, CouponRedemption, Customer, Message
from retainful.recovery import cancel_pending

# Contact-derived state that means nothing once the address is gone.
_ALSO_ERASED = dict(email_suppressed_at=None, email_suppression_reason=None)


def is_erased(customer: Customer) -> bool:
    """True when no personal data is left on the customer row."""
    return not any(getattr(customer, field) for field in ("email", "phone", "first_name", "last_name",
                                                          "external_id"))


def erase_customer(customer: Customer) -> dict[str, int]:
    """Erase the customer's personal data and cancel their pending messages, in one commit. Returns counts.

    A message a worker is sending at this moment is left to it: the send policy finds no address and skips it.
    """
    email = customer.email
    counts = {"messages_cancelled": cancel_pending(customer_id=customer.id)}
    counts["messages_redacted"] = db.session.execute(
        sa.update(Message).where(Message.customer_id == customer.id)
        .values(recipient=None, subject=None, body_text=None, body_html=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    bound = Coupon.customer_id == customer.id
    if email:
        bound = bound | ((Coupon.store_id == customer.store_id) & (sa.func.lower(Coupon.email) == email.lower()))
    counts["coupons_redacted"] = db.session.execute(
        sa.update(Coupon).where(bound, Coupon.email.is_not(None)).values(email=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if email:
        db.session.execute(
            sa.update(CouponRedemption)
            .where(CouponRedemption.store_id == customer.store_id,
                   sa.func.lower(CouponRedemption.email) == email.lower())
            .values(email=None).execution_options(synchronize_session=False)
        )
    db.session.execute(
        sa.update(Cart).where(Cart.customer_id == customer.id).values(reachable=False)
        .execution_options(synchronize_session=False)
    )
    for field, value in {**ERASED_CUSTOMER_FIELDS, **_ALSO_ERASED}.items():
        setattr(customer, field, value)
    db.session.commit()
    return counts
