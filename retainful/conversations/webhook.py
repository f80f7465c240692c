"""Each new inbound message, POSTed to the store's ``conversation_webhook_url`` so a helpdesk can show it.

The URL is the owner's input, so it is checked when saved (retainful/stores/settings.py) and every delivery goes
through retainful/egress.py (the SSRF guard). Deliveries are rows of ``outgoing_webhook`` (the database is the queue): a job sends the due ones and
retries a failure with exponential backoff and jitter, up to MAX_ATTEMPTS. Each attempt's body is JSON::

    {"id": "<delivery id>", "event": "message.inbound", "store_id": 1, "attempt": 1,
     "sent_at": "2026-12-01T21:00:00+00:00", "data": {...}}

signed as ``X-Retainful-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes, keyed by the store's webhook
secret>``, with ``X-Retainful-Timestamp`` (the attempt's Unix seconds, also ``sent_at`` in the signed body) and
``X-Retainful-Delivery`` (the id, the same on every attempt). A receiver checks the signature over the raw body,
refuses a timestamp more than five minutes old, and ignores an id it has seen: a replay is refused either way.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import uuid
from datetime import timedelta

import sqlalchemy as sa

from retainful import clock, egress
from retainful.conversations.service import as_json, message_json, on_inbound
from retainful.extensions import db
from retainful.models import ConversationMessage, Customer, OutgoingWebhook, Store

log = logging.getLogger(__name__)

INBOUND_MESSAGE = "message.inbound"
MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=6)
LEASE = timedelta(minutes=2)  # a claimed delivery is not claimed again while its attempt runs
KEEP = timedelta(days=7)  # finished deliveries carry the shopper's words: kept this long, then deleted
TIMEOUT_SECONDS = 10.0
BATCH = 50


def sign(secret: str, body: bytes) -> str:
    """The ``X-Retainful-Signature`` value of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def enqueue(store: Store, customer_id: int | None, event: str, data: dict) -> OutgoingWebhook | None:
    """Queue ``event`` about a customer for the store's helpdesk (in the caller's transaction), or None when the
    store has no URL."""
    if not store.conversation_webhook_url:
        return None
    delivery = OutgoingWebhook(id=uuid.uuid4().hex, store_id=store.id, customer_id=customer_id, event=event,
                               data=json.dumps(data, separators=(",", ":"), default=str), next_attempt_at=clock.now())
    db.session.add(delivery)
    return delivery


@on_inbound
def queue_inbound(message: ConversationMessage) -> None:
    """The ``message.inbound`` event of a new shopper message: the conversation (with its suggested reason: the
    classifier's listener ran first), the shopper, the message."""
    store = db.session.get(Store, message.store_id)
    customer = db.session.get(Customer, message.conversation.customer_id)
    contact = {"id": customer.id, "email": customer.email, "phone": customer.phone,
               "first_name": customer.first_name, "last_name": customer.last_name}
    if enqueue(store, customer.id, INBOUND_MESSAGE, {"conversation": as_json(message.conversation),
                                                     "customer": contact, "message": message_json(message)}):
        db.session.commit()


def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failure: doubling from FIRST_RETRY up to LONGEST_RETRY, with jitter (a
    random half to whole of it) so many deliveries to one down helpdesk do not retry in step."""
    longest = min(FIRST_RETRY * 2 ** (attempts - 1), LONGEST_RETRY)
    return longest * random.uniform(0.5, 1.0)


def _claim() -> list[str]:
    now = clock.now()
    due = (sa.select(OutgoingWebhook.id)
           .where(OutgoingWebhook.delivered_at.is_(None), OutgoingWebhook.failed_at.is_(None),
                  OutgoingWebhook.next_attempt_at <= now)
           .order_by(OutgoingWebhook.next_attempt_at).limit(BATCH))
    if db.engine.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = list(db.session.scalars(
        sa.update(OutgoingWebhook).where(OutgoingWebhook.id.in_(due.scalar_subquery()))
        .values(next_attempt_at=now + LEASE, attempts=OutgoingWebhook.attempts + 1)
        .returning(OutgoingWebhook.id).execution_options(synchronize_session=False)))
    db.session.commit()
    return ids


def _body(delivery: OutgoingWebhook, now) -> bytes:
    return json.dumps({"id": delivery.id, "event": delivery.event, "store_id": delivery.store_id,
                       "attempt": delivery.attempts, "sent_at": now.replace(microsecond=0).isoformat(),
                       "data": json.loads(delivery.data)}, separators=(",", ":")).encode()


def _attempt(delivery: OutgoingWebhook, store: Store) -> str | None:
    """One POST; None when the helpdesk took it (2xx), else the short status line to keep."""
    if not store.conversation_webhook_url:
        return "no webhook URL"
    now = clock.now()
    body = _body(delivery, now)
    headers = {"X-Retainful-Signature": sign(store.webhook_secret, body),
               "X-Retainful-Timestamp": str(int(now.timestamp())), "X-Retainful-Delivery": delivery.id,
               "X-Retainful-Event": delivery.event}
    try:
        reply = egress.request("POST", store.conversation_webhook_url, "", body=body, headers=headers,
                               timeout=TIMEOUT_SECONDS, max_bytes=64 * 1024)
    except egress.ShopError as error:
        return error.status
    return None if 200 <= reply.status < 300 else f"HTTP {reply.status}"


def deliver_due() -> dict[str, int]:
    """Send the due deliveries once each; a failure waits retry_delay, the last one is given up. Finished deliveries
    older than KEEP are deleted. Returns counts for the job's log."""
    counts = {"delivered": 0, "retrying": 0, "given_up": 0}
    for delivery_id in _claim():
        delivery = db.session.get(OutgoingWebhook, delivery_id)
        status = _attempt(delivery, db.session.get(Store, delivery.store_id))
        now = clock.now()
        delivery.last_status = status or "delivered"
        if status is None:
            delivery.delivered_at, outcome = now, "delivered"
        elif delivery.attempts >= MAX_ATTEMPTS or status == "no webhook URL":
            delivery.failed_at, outcome = now, "given_up"
        else:
            delivery.next_attempt_at, outcome = now + retry_delay(delivery.attempts), "retrying"
        counts[outcome] += 1
        log.info("conversation webhook %s (store %s) attempt %d: %s", delivery.id, delivery.store_id,
                 delivery.attempts, delivery.last_status)
        db.session.commit()
    cutoff = clock.now() - KEEP
    db.session.execute(sa.delete(OutgoingWebhook).where(
        sa.or_(OutgoingWebhook.delivered_at < cutoff, OutgoingWebhook.failed_at < cutoff)))
    db.session.commit()
    return counts
