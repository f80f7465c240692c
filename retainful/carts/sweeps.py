"""Scheduled sweeps over carts: abandonment and retention purge. Each is idempotent and safe to run anywhere."""
from __future__ import annotations

import logging

import sqlalchemy as sa

from retainful import clock
from retainful.customers.anonymise import anonymise
from retainful.extensions import db
from retainful.models import TEST_SEND, Cart, CartStatus, ConsentEvent, Customer, Message, Order, Store
from retainful.automations import plan_abandoned
from retainful.messaging.outbox import cancel as cancel_pending

log = logging.getLogger(__name__)

SWEEP_BATCH = 500


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


def purge_expired(batch_size: int = SWEEP_BATCH) -> dict[str, int]:
    """Delete carts, test-sends and the personal data of customers that are past their store's retention.

    Carts go with their outbox rows (and the test-sends rendered from them). Expired customers are anonymised, by
    the same step as a GDPR erase, so nothing that pointed at them keeps their data (coupons, next-order messages);
    then those without orders are deleted, and those with orders keep an anonymous row for the revenue reports.
    """
    counts = {"carts": 0, "customers_deleted": 0, "customers_anonymised": 0, "test_messages": 0}
    for store in db.session.scalars(sa.select(Store)).all():
        cutoff = clock.now() - store.retention
        counts["carts"] += db.session.execute(
            sa.delete(Cart).where(Cart.store_id == store.id, Cart.last_activity_at < cutoff)
        ).rowcount
        counts["test_messages"] += db.session.execute(sa.delete(Message).where(
            Message.store_id == store.id, Message.kind == TEST_SEND, Message.created_at < cutoff)).rowcount
        has_cart = sa.exists().where(Cart.customer_id == Customer.id)
        has_order = sa.exists().where(Order.customer_id == Customer.id)
        expired = (Customer.store_id == store.id, Customer.last_seen_at < cutoff, ~has_cart)
        identified = Customer.email.is_not(None) | Customer.phone.is_not(None) | Customer.external_id.is_not(None)
        while ids := list(db.session.scalars(
                sa.select(Customer.id).where(*expired, identified).order_by(Customer.id).limit(batch_size))):
            anonymise(store.id, ids)
            counts["customers_anonymised"] += db.session.scalar(
                sa.select(sa.func.count(Customer.id)).where(Customer.id.in_(ids), has_order))
            db.session.commit()
        db.session.execute(sa.delete(ConsentEvent).where(ConsentEvent.customer_id.in_(
            sa.select(Customer.id).where(*expired))))
        counts["customers_deleted"] += db.session.execute(
            sa.delete(Customer).where(*expired, ~has_order).execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
    if any(counts.values()):
        log.info("purge: %s", counts)
    return counts
