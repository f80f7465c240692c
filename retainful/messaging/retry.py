"""Retrying a failed message: it goes back to the outbox, due now, with a fresh attempt budget.

The dispatcher re-checks the send policy as for any message, so a retry never reaches a shopper who has since
ordered, unsubscribed or opted out: it is skipped with its reason instead.
"""
from __future__ import annotations

import sqlalchemy as sa

from retainful import clock
from retainful.errors import FieldError
from retainful.extensions import db
from retainful.models import TEST_SEND, Message, MessageStatus


def retry_message(message: Message) -> Message:
    """Schedule a failed message again. Raises FieldError for a message that did not fail, or a test-send."""
    if message.kind == TEST_SEND:
        raise FieldError("kind", "A test-send is not retried: send a new test from the template editor.")
    if message.status != MessageStatus.FAILED:
        raise FieldError("status", f"Only failed messages can be retried; this one is {message.status}.")
    now = clock.now()
    # Conditional on the status, so two clicks (or two admins) schedule it once.
    updated = db.session.execute(
        sa.update(Message).where(Message.id == message.id, Message.status == MessageStatus.FAILED)
        .values(status=MessageStatus.SCHEDULED, due_at=now, attempts=0, lease_owner=None, lease_until=None,
                skip_reason=None, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    db.session.refresh(message)
    if not updated:
        raise FieldError("status", f"Only failed messages can be retried; this one is {message.status}.")
    return message
