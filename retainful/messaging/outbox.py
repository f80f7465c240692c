"""The outbox as a queue in the database: claim due messages under a lease, record what happened to each.

PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets any number of workers claim disjoint batches without waiting.
SQLite: the single UPDATE runs under the database's write lock, so one claim at a time.
Every result is written only while the claim's lease owner still matches, so a worker whose lease expired
(and whose messages another worker took over) cannot overwrite the newer outcome.
"""
from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from retainful import clock
from retainful.extensions import db
from retainful.models import Message, MessageStatus


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


FINISH_ATTEMPTS = 4


def finish(message_id: int, owner: str, **values: Any) -> bool:
    """Record the outcome of a claimed message; False when the lease was lost to another worker.

    A message the provider accepted must not stay "sending" because the database blinked: its lease would expire and
    it would go out twice. So a failed write is retried a few times (with a fresh connection) before giving up.
    """
    values.setdefault("lease_owner", None)
    values.setdefault("lease_until", None)
    values["updated_at"] = clock.now()
    statement = (
        sa.update(Message)
        .where(Message.id == message_id, Message.lease_owner == owner, Message.status == MessageStatus.SENDING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    for attempt in range(1, FINISH_ATTEMPTS + 1):
        try:
            updated = db.session.execute(statement).rowcount
            db.session.commit()
            return bool(updated)
        except OperationalError:
            db.session.rollback()
            if attempt == FINISH_ATTEMPTS:
                raise
            time.sleep(0.2 * 2 ** attempt)
    return False
