"""Scheduled sweeps over carts: abandonment and retention purge. Each is idempotent and safe to run anywhere."""
from __future__ import annotations

import logging

import sqlalchemy as sa

from retainful import clock
from retainful.extensions import db
from retainful.models import Cart, CartStatus, ConsentEvent, Customer, Order, Store
from retainful.recovery import cancel_pending, plan_abandoned

log = logging.getLogger(__name__)

SWEEP_BATCH = 500
ERASED_CUSTOMER_FIELDS = dict(
    email=None, phone=None, first_name=None, last_name=None, locale=None, external_id=None,
    email_consent=None, email_consent_at=None, email_consent_source=None,
    sms_consent=None, sms_consent_at=None, sms_consent_source=None,
)


def sweep_abandoned(batch_size: int = SWEEP_BATCH) -> list[int]:
    """Turn live carts past their store's cut-off into abandoned carts. Returns the ids it abandoned.

    Each cart carries its own deadline (``abandon_due_at``), so the query is a range scan on the
    (status, abandon_due_at) index and touches only the carts that are due.
    """
    abandoned: list[int] = []
    while True:
        now = clock.now()
        due = (
            sa.select(Cart.id)
            .where(Cart.status == CartStatus.LIVE, Cart.abandon_due_at <= now)
            .order_by(Cart.abandon_due_at)
            .limit(batch_size)
        )
        if db.engine.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)  # a second worker takes other carts instead of waiting
        ids = list(db.session.scalars(due))
        if not ids:
            db.session.commit()
            break
        db.session.execute(
            sa.update(Cart)
            .where(Cart.id.in_(ids), Cart.status == CartStatus.LIVE)
            .values(status=CartStatus.ABANDONED, abandoned_at=now, abandon_due_at=None)
            .execution_options(synchronize_session=False)
        )
        plan_abandoned(ids)  # commits the batch: abandoned and planned together, or neither
        abandoned.extend(ids)
        if len(ids) < batch_size:
            break
    if abandoned:
        log.info("abandon sweep: %d carts abandoned", len(abandoned))
    return abandoned


def close_lost(batch_size: int = SWEEP_BATCH) -> int:
    """Abandoned carts whose sequence is over, with no order after the grace period, become lost."""
    closed = 0
    while True:
        now = clock.now()
        ids = list(db.session.scalars(
            sa.select(Cart.id).where(Cart.status == CartStatus.ABANDONED, Cart.lost_due_at <= now)
            .order_by(Cart.lost_due_at).limit(batch_size)
        ))
        for cart_id in ids:
            cancel_pending(cart_id=cart_id)
        if ids:
            db.session.execute(
                sa.update(Cart).where(Cart.id.in_(ids), Cart.status == CartStatus.ABANDONED)
                .values(status=CartStatus.LOST, closed_at=now).execution_options(synchronize_session=False)
            )
        db.session.commit()
        closed += len(ids)
        if len(ids) < batch_size:
            return closed


def purge_expired() -> dict[str, int]:
    """Delete carts, and the personal data of customers, that are past their store's retention.

    Customers with orders keep their row (orders stay in the revenue reports) but lose their personal data.
    """
    counts = {"carts": 0, "customers_deleted": 0, "customers_anonymised": 0}
    for store in db.session.scalars(sa.select(Store)).all():
        cutoff = clock.now() - store.retention
        counts["carts"] += db.session.execute(
            sa.delete(Cart).where(Cart.store_id == store.id, Cart.last_activity_at < cutoff)
        ).rowcount
        has_cart = sa.exists().where(Cart.customer_id == Customer.id)
        has_order = sa.exists().where(Order.customer_id == Customer.id)
        expired = (Customer.store_id == store.id, Customer.last_seen_at < cutoff, ~has_cart)
        db.session.execute(sa.delete(ConsentEvent).where(ConsentEvent.customer_id.in_(
            sa.select(Customer.id).where(*expired))))
        counts["customers_deleted"] += db.session.execute(
            sa.delete(Customer).where(*expired, ~has_order).execution_options(synchronize_session=False)
        ).rowcount
        counts["customers_anonymised"] += db.session.execute(
            sa.update(Customer)
            .where(*expired, Customer.email.is_not(None) | Customer.phone.is_not(None))
            .values(**ERASED_CUSTOMER_FIELDS)
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
    if any(counts.values()):
        log.info("purge: %s", counts)
    return counts
