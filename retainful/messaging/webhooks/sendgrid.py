"""SendGrid Event Webhook: what happened to our emails after SendGrid accepted them.

Deliveries, opens and clicks are stamped on the message (first time only, so a redelivered batch changes nothing);
the other events are applied once per ``sg_event_id`` (remembered for a few days).
A hard bounce, or a drop because the address bounced before or is invalid, suppresses the address in every store: it
is dead, and mailing it again hurts the sender's reputation. A spam report or an unsubscribe through SendGrid
unsubscribes that shopper from that store, like our own link. Each event names our message through the ``message_id``
custom arg the dispatcher sets; the event's address must be the one the message went to.

Every request must carry SendGrid's ECDSA signature (P-256, SHA-256 over the timestamp header followed by the raw
body), checked with the SDK's verifier against ``SENDGRID_WEBHOOK_PUBLIC_KEY``. Message ids are small integers, so an
unsigned endpoint would let anyone suppress every shopper: without a key the endpoint refuses everything. The signed
timestamp must be within ``SENDGRID_WEBHOOK_MAX_AGE_SECONDS`` of now, so a captured batch cannot be replayed later.
"""
from __future__ import annotations

import binascii
import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.eventwebhook.eventwebhook_header import EventWebhookHeader

from retainful import clock
from retainful.customers import normalise_email, unsubscribe
from retainful.extensions import db
from retainful.messaging.tracking import note_recovery_click
from retainful.messaging.webhooks import deliveries
from retainful.models import Customer, Message, Store
from retainful.messaging.outbox import cancel as cancel_pending

SIGNATURE_HEADER = EventWebhookHeader.SIGNATURE
TIMESTAMP_HEADER = EventWebhookHeader.TIMESTAMP
# Drop reasons that mean the address itself is unusable (SendGrid's own suppression lists say so).
DEAD_ADDRESS_DROPS = frozenset({"Bounced Address", "Invalid", "Invalid Email Address"})
STAMPS = {"delivered": "delivered_at", "open": "opened_at", "click": "clicked_at"}
DELIVERY_SOURCE = "sendgrid"
EVENT_ID_RETENTION = timedelta(days=3)  # beyond SendGrid's 24 hours of retries for a batch we did not answer
MAX_MESSAGE_ID = 2**31 - 1  # message.id is a 32-bit integer column; a bigger id names no message
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


class InvalidEvents(ValueError):
    """Not a batch we may act on: a bad signature, or a body that is not SendGrid's JSON array of events."""


def verify(body: bytes, signature: str | None, timestamp: str | None, public_key: str, max_age: int) -> None:
    """The batch is SendGrid's (the signature) and recent (the signed timestamp, ``max_age`` seconds either way)."""
    if not public_key:
        raise InvalidEvents("the event webhook is not configured (SENDGRID_WEBHOOK_PUBLIC_KEY)")
    if not signature or not timestamp:
        raise InvalidEvents("unsigned")
    if not _TIMESTAMP.match(timestamp):
        raise InvalidEvents("the timestamp is not a Unix time")
    if abs(clock.now().timestamp() - int(timestamp)) > max_age:
        raise InvalidEvents("stale timestamp")
    try:
        verifier = EventWebhook(public_key)
        valid = verifier.verify_signature(body.decode("utf-8"), signature, timestamp)
    except (ValueError, TypeError, binascii.Error):  # an undecodable body, signature or key
        valid = False
    if not valid:
        raise InvalidEvents("bad signature")


@dataclass(frozen=True)
class Event:
    kind: str
    message_id: int
    email: str
    at: datetime
    reason: str | None = None
    bounce_type: str | None = None
    machine_open: bool = False
    event_id: str | None = None  # sg_event_id


def parse(body: bytes) -> list[Event | None]:
    """The events that concern our messages (None for one that names a message but cannot be read); others (no
    ``message_id`` custom arg) are left out."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidEvents("the body is not JSON") from None
    if not isinstance(payload, list):
        raise InvalidEvents("the body must be a JSON array of events")
    return [_event(item) for item in payload if isinstance(item, dict) and "message_id" in item]


def _event(item: dict) -> Event | None:
    try:
        message_id = int(str(item["message_id"]))
        at = datetime.fromtimestamp(int(item["timestamp"]), timezone.utc)
        kind, email = str(item["event"]), normalise_email(str(item["email"]))
    except (KeyError, ValueError, TypeError, OverflowError, OSError):
        return None
    if not 1 <= message_id <= MAX_MESSAGE_ID:
        return None
    reason, event_id = item.get("reason"), item.get("sg_event_id")
    return Event(kind, message_id, email, min(at, clock.now()), str(reason)[:500] if reason else None,
                 item.get("type"), item.get("sg_machine_open") is True,
                 event_id if isinstance(event_id, str) and 0 < len(event_id) <= 100 else None)


def handle(events: list[Event | None]) -> Counter:
    """Apply a batch; returns how many events of each kind were applied (and how many were ``ignored``)."""
    ids = {event.message_id for event in events if event is not None}
    messages = {m.id: m for m in db.session.scalars(sa.select(Message).where(Message.id.in_(ids)))} if ids else {}
    applied: Counter = Counter()
    done = deliveries.already_seen(DELIVERY_SOURCE, [e.event_id for e in events if _once(e)])
    for event in events:
        message = messages.get(event.message_id) if event is not None else None
        if message is None or message.channel != "email" or message.recipient != event.email or (
                _once(event) and event.event_id in done):
            applied["ignored"] += 1
            continue
        applied[event.kind if _apply(event, message) else "ignored"] += 1
        if _once(event):
            done.add(event.event_id)
    deliveries.remember(DELIVERY_SOURCE, [e.event_id for e in events if _once(e) and e.event_id in done],
                        EVENT_ID_RETENTION)
    db.session.commit()
    return applied


def _once(event: Event | None) -> bool:
    """An event whose effect a repeat would redo (unsubscribe a shopper who re-consented, suppress again), so its
    ``sg_event_id`` is remembered. Stamps need no such memory: they are kept the first time only."""
    return event is not None and event.kind not in STAMPS and event.event_id is not None


def _apply(event: Event, message: Message) -> bool:
    if event.kind in STAMPS and not event.machine_open:  # Apple Mail's privacy proxy opens everything
        column = STAMPS[event.kind]
        if getattr(message, column) is None:
            setattr(message, column, event.at)
        if event.kind == "click":
            note_recovery_click(message, event.at)
        return True
    if event.kind == "bounce" and event.bounce_type != "blocked":  # "blocked" is the receiver's mood, not the address
        message.bounced_at = message.bounced_at or event.at
        message.error = f"bounced: {event.reason or 'no reason given'}"[:1000]
        _suppress_address(event)
        return True
    if event.kind == "dropped":
        message.error = f"dropped by SendGrid: {event.reason or 'no reason given'}"[:1000]
        if event.reason in DEAD_ADDRESS_DROPS:
            _suppress_address(event)
        return True
    if event.kind in ("spamreport", "unsubscribe", "group_unsubscribe") and message.customer_id is not None:
        customer = db.session.get(Customer, message.customer_id)
        if customer is not None:
            unsubscribe(customer, source=f"sendgrid:{event.kind}")
        return True
    return False


def _suppress_address(event: Event) -> None:
    """No more email to this address from any store, and what is pending for it is cancelled."""
    same_address = (Customer.store_id.in_(sa.select(Store.id)),  # probes the (store, lower(email)) index per store
                    sa.func.lower(Customer.email) == event.email.lower(), Customer.email_suppressed_at.is_(None))
    for customer in db.session.scalars(sa.select(Customer).where(*same_address)):
        customer.email_suppressed_at = event.at
        customer.email_suppression_reason = ("hard bounce" if event.kind == "bounce" else f"dropped: {event.reason}")[:64]
        cancel_pending(customer_id=customer.id, channel="email")
