"""Bounce suppressions that survive erasure: kept as a keyed hash of the address, matched when the address returns."""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from retainful import clock
from retainful.extensions import db
from retainful.models import Customer, EmailSuppression


def email_hash(email: str) -> str:
    """HMAC-SHA256 of the address as matching sees it (case-insensitive), keyed with SECRET_KEY: without the key
    the table cannot be checked against a list of known addresses."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, email.lower().encode(), hashlib.sha256).hexdigest()


def remember(suppressed: list[tuple[str, str | None, datetime]]) -> None:
    """Keep (email, reason, since) suppressions whose customers are losing their address. A repeat is a no-op."""
    if not suppressed:
        return
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    now = clock.now()
    rows = {email_hash(email): {"email_hash": email_hash(email), "reason": reason, "suppressed_at": since,
                                "created_at": now} for email, reason, since in suppressed}
    db.session.execute(dialect.insert(EmailSuppression).values(list(rows.values()))
                       .on_conflict_do_nothing(index_elements=["email_hash"]))


def recall(customer: Customer) -> None:
    """A customer whose (new) address was suppressed before its owner was erased is suppressed again."""
    if customer.email is None or customer.email_suppressed_at is not None:
        return
    found = db.session.scalar(sa.select(EmailSuppression).where(
        EmailSuppression.email_hash == email_hash(customer.email)))
    if found is not None:
        customer.email_suppressed_at, customer.email_suppression_reason = found.suppressed_at, found.reason
