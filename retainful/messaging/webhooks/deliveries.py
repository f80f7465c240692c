"""Delivery ids already acted on, per provider, so a repeated delivery changes nothing.

Kept only for ``retention``: every remember() that adds rows first drops its source's rows older than that (an index
range), so the table stays bounded by the deliveries of one retention period.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from retainful import clock
from retainful.extensions import db
from retainful.models import WebhookDelivery

MAX_KEY = 200  # the column; a longer id is not remembered (and a provider never sends one)


def already_seen(source: str, keys: Iterable[str]) -> set[str]:
    """Which of ``keys`` were remembered for ``source``."""
    keys = {key for key in keys if len(key) <= MAX_KEY}
    if not keys:
        return set()
    return set(db.session.scalars(sa.select(WebhookDelivery.key).where(
        WebhookDelivery.source == source, WebhookDelivery.key.in_(keys))))


def remember(source: str, keys: Iterable[str], retention: timedelta) -> None:
    """Remember ``keys`` (in the caller's transaction); one remembered meanwhile by a concurrent delivery is kept."""
    now = clock.now()
    rows = [{"source": source, "key": key, "received_at": now} for key in sorted(set(keys)) if len(key) <= MAX_KEY]
    if not rows:
        return
    db.session.execute(sa.delete(WebhookDelivery).where(
        WebhookDelivery.source == source, WebhookDelivery.received_at < now - retention))
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    db.session.execute(dialect.insert(WebhookDelivery).on_conflict_do_nothing(), rows)
