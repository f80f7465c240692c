"""Inbound SMS: long texts joined from their parts, then keywords first, then the conversation.

Vonage retries a webhook it did not get a 200 for, and sends each part of a long text as its own request (with
``concat-ref``, ``concat-part``, ``concat-total``). Parts are kept (``inbound_sms_part``) until the set is complete;
a set still incomplete after ``PART_TTL`` is recorded with what came. Each part and each whole text is recognised by
Vonage's ``messageId``, so a retry is recorded once and a STOP confirmed once.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from retainful import clock
from retainful.conversations import keywords
from retainful.conversations.service import receive, reply, seen
from retainful.extensions import db
from retainful.models import Customer, InboundSmsPart, Store
from retainful.text import scrubbed

log = logging.getLogger(__name__)

PART_TTL = timedelta(days=1)  # an incomplete set is recorded as it is after this; joined parts are kept as long
MAX_PARTS = 32  # concat-total beyond this is not a text a phone sends
SMS = "sms"


@dataclass(frozen=True)
class Text:
    """One whole inbound text, as the conversation sees it."""

    sender: str  # E.164
    to: str  # E.164 (our number), or ""
    text: str
    message_id: str | None  # Vonage's messageId (of the first part of a joined text)


@dataclass(frozen=True)
class Part:
    ref: str
    number: int
    total: int


def assemble(sender: str, to: str, text: str, message_id: str | None, part: Part | None) -> list[Text]:
    """The whole texts ready now: this one if it is not a part; the joined set when this part completes it; and any
    set that has waited longer than ``PART_TTL`` (recorded with the parts that came; the ``inbound_sms_parts`` job
    records them too when no text comes in). Commits the parts."""
    ready = [] if part is not None else [Text(sender, to, scrubbed(text), message_id)]
    if part is not None:
        db.session.add(InboundSmsPart(sender=sender, recipient=to, concat_ref=part.ref[:64], part=part.number,
                                      total=part.total, text=scrubbed(text),
                                      provider_message_id=(message_id or f"{part.ref}:{part.number}")[:128],
                                      joined=False, received_at=clock.now()))
        try:
            db.session.commit()
        except IntegrityError:  # a retried part
            db.session.rollback()
        else:
            ready += _join(sender, to, part.ref[:64], complete_only=True)
    return ready + expired()


def _join(sender: str, to: str, ref: str, *, complete_only: bool) -> list[Text]:
    parts = list(db.session.scalars(sa.select(InboundSmsPart).where(
        InboundSmsPart.sender == sender, InboundSmsPart.recipient == to, InboundSmsPart.concat_ref == ref,
        InboundSmsPart.joined.is_(False)).order_by(InboundSmsPart.part, InboundSmsPart.id)))
    numbers = {p.part for p in parts}
    if not parts or complete_only and len(numbers) < parts[0].total:
        return []
    # Claim them: of two requests that both see the set complete, one joins it.
    claimed = db.session.execute(sa.update(InboundSmsPart).where(
        InboundSmsPart.id.in_([p.id for p in parts]), InboundSmsPart.joined.is_(False)).values(joined=True)
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    if claimed != len(parts):
        return []
    seen: set[int] = set()
    text = "".join(p.text for p in parts if not (p.part in seen or seen.add(p.part)))
    return [Text(sender, to, text, parts[0].provider_message_id)]


def expired() -> list[Text]:
    """Sets that waited past PART_TTL, joined as they are; joined parts older than that are deleted."""
    cutoff = clock.now() - PART_TTL
    db.session.execute(sa.delete(InboundSmsPart).where(InboundSmsPart.joined.is_(True),
                                                       InboundSmsPart.received_at < cutoff))
    stale = db.session.execute(sa.select(InboundSmsPart.sender, InboundSmsPart.recipient, InboundSmsPart.concat_ref)
                               .where(InboundSmsPart.joined.is_(False), InboundSmsPart.received_at < cutoff)
                               .distinct().limit(100)).all()
    db.session.commit()
    return [text for sender, to, ref in stale for text in _join(sender, to, ref, complete_only=False)]


def handle(text: Text, stores: list[int]) -> dict[str, int]:
    """Answer one whole text from ``text.sender`` in each of ``stores`` (those texting from the number it was sent
    to) where the sender is a customer: a keyword's action and confirmation, else the conversation. Returns counts."""
    customers = list(db.session.scalars(sa.select(Customer).where(
        Customer.phone == text.sender, Customer.store_id.in_(stores)).order_by(Customer.id))) if stores else []
    counts = {"opted_out": 0, "recorded": 0}
    for customer in customers:
        if seen(customer.store_id, SMS, text.message_id):
            continue  # a retry: its action ran before it was recorded, and its confirmation is queued
        action = keywords.keyword_action(text.text, customer)
        flagged = action is None and keywords.revokes(text.text)
        if flagged:
            action = keywords.OPT_OUT
        if action is not None:
            action.run(customer)  # before it is recorded: a recorded STOP has always taken effect
        counts["opted_out"] += action is keywords.OPT_OUT
        message = receive(customer, SMS, text.text, provider_message_id=text.message_id,
                          keyword=action.name if action else None, opt_out_flagged=flagged,
                          open_new=action is None or flagged)
        if message is None:
            continue
        counts["recorded"] += 1
        if action is not None:
            store = db.session.get(Store, customer.store_id)
            reply(message.conversation, action.answer(store, customer), store.persona, keyword=action.name)
    log.info("inbound SMS to a number of %d store(s): %d customer(s), %s", len(stores), len(customers), counts)
    return counts
