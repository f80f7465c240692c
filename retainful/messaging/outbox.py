"""The outbox as a queue in the database: enqueue planned messages once, cancel what is pending, claim due messages
under a lease, record what happened to each.

PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets any number of workers claim disjoint batches without waiting.
SQLite: the single UPDATE runs under the database's write lock, so one claim at a time.
Every result is written only while the claim's lease owner still matches, so a worker whose lease expired
(and whose messages another worker took over) cannot overwrite the newer outcome.
"""
from __future__ import annotations

import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import joinedload

from retainful import clock
from retainful.extensions import db
from retainful.models import Cart, Message, MessageStatus

# Rows in these states are scheduled again when their subject is planned again (a cart abandoned again resumes with
# the steps not yet sent); sent, failed and pending ones are kept as they are.
REPLANNABLE = (MessageStatus.CANCELLED, MessageStatus.SKIPPED)
ENQUEUE_CHUNK = 500  # rows per INSERT: well under SQLite's 32,766 bound parameters


@dataclass(frozen=True)
class Planned:
    """One message an automation's planner wants sent, named by its de-duplication key (unique per store)."""

    store_id: int
    kind: str
    channel: str
    dedup_key: str
    due_at: datetime
    customer_id: int | None
    cart_id: int | None = None
    step_id: int | None = None
    coupon_id: int | None = None
    trigger_at: datetime | None = None
    campaign_id: int | None = None


def enqueue(planned: Iterable[Planned]) -> int:
    """Write planned messages once: a new key is inserted, a key planned before is left alone unless it was cancelled
    or skipped, and then it is scheduled again at its new time. Returns how many rows were (re)scheduled; the caller
    commits. Two planners racing on one key insert it once (``ON CONFLICT DO NOTHING``, SQLite and PostgreSQL)."""
    rows = {(p.store_id, p.dedup_key): p for p in planned}
    if not rows:
        return 0
    db.session.flush()
    existing: dict[tuple[int, str], tuple[int, str]] = {}
    keys = list(rows)
    for start in range(0, len(keys), ENQUEUE_CHUNK):
        chunk = keys[start:start + ENQUEUE_CHUNK]
        for store_id in {store_id for store_id, _ in chunk}:
            wanted = [key for sid, key in chunk if sid == store_id]
            for message_id, key, status in db.session.execute(
                    sa.select(Message.id, Message.dedup_key, Message.status)
                    .where(Message.store_id == store_id, Message.dedup_key.in_(wanted))):
                existing[store_id, key] = (message_id, status)
    scheduled = 0
    for key, (message_id, status) in existing.items():
        if status in REPLANNABLE:
            p = rows[key]
            db.session.execute(sa.update(Message).where(Message.id == message_id, Message.status.in_(REPLANNABLE))
                               .values(status=MessageStatus.SCHEDULED, skip_reason=None, due_at=p.due_at,
                                       customer_id=p.customer_id, trigger_at=p.trigger_at)
                               .execution_options(synchronize_session=False))
            scheduled += 1
    new = [{"store_id": p.store_id, "kind": p.kind, "channel": p.channel, "dedup_key": p.dedup_key,
            "due_at": p.due_at, "customer_id": p.customer_id, "cart_id": p.cart_id, "step_id": p.step_id,
            "coupon_id": p.coupon_id, "trigger_at": p.trigger_at, "campaign_id": p.campaign_id,
            "status": MessageStatus.SCHEDULED}
           for key, p in rows.items() if key not in existing]
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    for start in range(0, len(new), ENQUEUE_CHUNK):
        statement = insert(Message).values(new[start:start + ENQUEUE_CHUNK]).on_conflict_do_nothing()
        scheduled += len(db.session.execute(statement.returning(Message.id)).all())
    return scheduled


def cancel(*, cart_id: int | None = None, customer_id: int | None = None, channel: str | None = None,
           kinds: Iterable[str] | None = None, key_prefix: str | None = None) -> int:
    """Cancel scheduled messages of a cart or of a customer (optionally one channel, some kinds, or the keys that
    start with ``key_prefix``: one subject's series). Returns how many.

    Messages a worker is sending right now are left to it: it re-checks the policy before it sends.
    """
    if cart_id is None and customer_id is None:
        raise ValueError("cancel needs a cart or a customer")
    conditions = [Message.status == MessageStatus.SCHEDULED]
    if cart_id is not None:
        conditions.append(Message.cart_id == cart_id)
    if customer_id is not None:
        conditions.append(Message.customer_id == customer_id)
    if channel is not None:
        conditions.append(Message.channel == channel)
    if kinds is not None:
        conditions.append(Message.kind.in_(list(kinds)))
    if key_prefix is not None:
        conditions.append(Message.dedup_key.startswith(key_prefix, autoescape=True))
    return db.session.execute(
        sa.update(Message).where(*conditions).values(status=MessageStatus.CANCELLED)
        .execution_options(synchronize_session=False)
    ).rowcount


def reclaim_expired_leases() -> int:
    """Messages whose worker died mid-batch go back to the queue."""
    reclaimed = db.session.execute(
        sa.update(Message)
        .where(Message.status == MessageStatus.SENDING, Message.lease_until < clock.now())
        .values(status=MessageStatus.SCHEDULED, lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return reclaimed


def claim(batch_size: int, lease: timedelta) -> tuple[str, list[int]]:
    """Claim up to ``batch_size`` due messages for ``lease``; returns (lease owner, message ids)."""
    owner = uuid.uuid4().hex
    now = clock.now()
    due = (
        sa.select(Message.id)
        .where(Message.status == MessageStatus.SCHEDULED, Message.due_at <= now)
        .order_by(Message.due_at)
        .limit(batch_size)
    )
    if db.engine.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = list(db.session.scalars(
        sa.update(Message)
        .where(Message.id.in_(due.scalar_subquery()))
        .values(status=MessageStatus.SENDING, lease_owner=owner, lease_until=now + lease)
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    ))
    db.session.commit()
    return owner, ids


def release(claims: list[tuple[str, list[int]]]) -> int:
    """Claimed messages this worker will not send (it is shutting down) go back to the queue at once, so another
    worker takes them now instead of after the lease. Only rows whose lease this worker still holds."""
    released = 0
    for owner, ids in claims:
        if ids:
            released += db.session.execute(
                sa.update(Message)
                .where(Message.id.in_(ids), Message.lease_owner == owner, Message.status == MessageStatus.SENDING)
                .values(status=MessageStatus.SCHEDULED, lease_owner=None, lease_until=None)
                .execution_options(synchronize_session=False)
            ).rowcount
    db.session.commit()
    return released


FINISH_ATTEMPTS = 4


@dataclass(frozen=True)
class Outcome:
    """What happened to one claimed message: a label for the run's counts, and the columns to write.
    ``recovery_cart_id`` names the cart of a recovery message that went out (its first send is kept on the cart)."""

    message_id: int
    owner: str
    label: str
    values: dict[str, Any] = field(default_factory=dict)
    recovery_cart_id: int | None = None


_FIRST_MESSAGED = (sa.update(Cart.__table__)
                   .where(Cart.__table__.c.id == sa.bindparam("_cart"), Cart.__table__.c.messaged_at.is_(None))
                   .values(messaged_at=sa.bindparam("_at")))


def finish_many(outcomes: list[Outcome]) -> None:
    """Record the outcomes of claimed messages in one transaction: an executemany per shape of row, each row only
    where its lease still holds, and the first send of each recovered-for cart.

    A message the provider accepted must not stay "sending" because the database blinked: its lease would expire and
    it would go out twice. So a failed write is retried a few times (with a fresh connection) before giving up.
    A row whose lease was lost to another worker is left alone: that worker's outcome is the newer one.
    """
    now = clock.now()
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for outcome in outcomes:
        values = {"lease_owner": None, "lease_until": None, **outcome.values, "updated_at": now}
        shapes[tuple(sorted(values))].append(
            {"_id": outcome.message_id, "_owner": outcome.owner, **{f"v_{k}": v for k, v in values.items()}})
    table = Message.__table__
    statements = [
        (sa.update(table)
         .where(table.c.id == sa.bindparam("_id"), table.c.lease_owner == sa.bindparam("_owner"),
                table.c.status == MessageStatus.SENDING)
         .values({column: sa.bindparam(f"v_{column}") for column in columns}), rows)
        for columns, rows in shapes.items()
    ]
    first_sends = [{"_cart": o.recovery_cart_id, "_at": o.values["sent_at"]} for o in outcomes
                   if o.recovery_cart_id is not None and o.values.get("status") == MessageStatus.SENT]
    if first_sends:
        statements.append((_FIRST_MESSAGED, first_sends))
    for attempt in range(1, FINISH_ATTEMPTS + 1):
        try:
            for statement, rows in statements:
                db.session.execute(statement, rows)
            db.session.commit()
            return
        except OperationalError:
            db.session.rollback()
            if attempt == FINISH_ATTEMPTS:
                raise
            time.sleep(0.2 * 2 ** attempt)


def load_claimed(owner: str, ids: list[int]) -> list[Message]:
    """The claimed messages with what the policy and the templates read of them (their cart, customer, step and
    coupon: each one row), joined into one statement per batch instead of several lazy loads per message."""
    if not ids:
        return []
    return list(db.session.scalars(
        sa.select(Message)
        .where(Message.id.in_(ids), Message.lease_owner == owner, Message.status == MessageStatus.SENDING)
        .options(joinedload(Message.cart), joinedload(Message.customer), joinedload(Message.step),
                 joinedload(Message.coupon))
        .order_by(Message.due_at, Message.id)
    ))
