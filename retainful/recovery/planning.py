"""Planning the outbox for abandoned carts, and cancelling what is pending when the shopper comes back or buys."""
from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Iterable

import sqlalchemy as sa

from retainful.extensions import db
from retainful.models import ABANDONED_CART, TEST_SEND, Cart, Message, MessageStatus, Sequence, Step, Store
from retainful.recovery.sequences import abandoned_cart_sequence

# After the last step is due, a cart without an order waits this long before it counts as lost.
LOST_GRACE = timedelta(days=1)
# Rows in these states are planned again when the cart is abandoned again; sent/failed/pending ones are kept.
REPLANNABLE = (MessageStatus.CANCELLED, MessageStatus.SKIPPED)


def plan_abandoned(cart_ids: Iterable[int]) -> int:
    """Plan the sequence's messages for these newly abandoned carts. Returns how many rows were (re)scheduled.

    One row per (cart, step, channel), unique, so planning twice never sends twice. Steps already sent stay sent;
    the others are measured from the cart's latest activity.
    """
    planned = 0
    sequences: dict[int, Sequence | None] = {}
    for cart in db.session.scalars(sa.select(Cart).where(Cart.id.in_(list(cart_ids)))):
        if cart.store_id not in sequences:
            sequences[cart.store_id] = abandoned_cart_sequence(cart.store_id)
        sequence = sequences[cart.store_id]
        steps = [s for s in sequence.steps if s.enabled] if sequence and sequence.enabled else []
        last_delay = max((s.delay for s in steps), default=timedelta(0))
        cart.lost_due_at = cart.last_activity_at + last_delay + LOST_GRACE
        if cart.customer_id is None or not cart.reachable:
            continue  # tracked for the reports, but there is nobody to write to
        if cart.control_group or _joins_holdout(cart, _holdout_percent(cart)):
            cart.control_group = True  # the holdout: abandoned like any other, never messaged
            continue
        planned += _plan_cart(cart, steps)
    db.session.commit()
    return planned


def _holdout_percent(cart: Cart) -> int:
    return db.session.get(Store, cart.store_id).holdout_percent


def in_holdout(store_id: int, token: str, percent: int) -> bool:
    """A stable draw by a hash of the cart: the same cart always lands in the same group."""
    digest = hashlib.sha256(f"{store_id}:{token}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < percent


def _joins_holdout(cart: Cart, percent: int) -> bool:
    """Decided once, at the cart's first abandonment: a cart that has been messaged never joins the control group."""
    if percent <= 0:
        return False
    messaged = db.session.scalar(sa.select(sa.exists().where(Message.cart_id == cart.id, Message.kind != TEST_SEND)))
    return not messaged and in_holdout(cart.store_id, cart.token, percent)


def _plan_cart(cart: Cart, steps: list[Step]) -> int:
    existing = {(m.step_id, m.channel): m for m in db.session.scalars(
        sa.select(Message).where(Message.cart_id == cart.id))}
    planned = 0
    for step in steps:
        due_at = cart.last_activity_at + step.delay
        for channel in step.channels:
            message = existing.get((step.id, channel))
            if message is None:
                db.session.add(Message(store_id=cart.store_id, cart_id=cart.id, customer_id=cart.customer_id,
                                       step_id=step.id, kind=ABANDONED_CART, channel=channel, due_at=due_at))
            elif message.status in REPLANNABLE:
                message.status, message.skip_reason, message.due_at = MessageStatus.SCHEDULED, None, due_at
                message.customer_id = cart.customer_id
            else:
                continue
            planned += 1
    return planned


def cancel_pending(*, cart_id: int | None = None, customer_id: int | None = None,
                   channel: str | None = None) -> int:
    """Cancel scheduled messages of a cart or of a customer (optionally one channel). Returns how many.

    Messages a worker is sending right now are left to it: it re-checks the policy before it sends.
    """
    conditions = [Message.status == MessageStatus.SCHEDULED]
    if cart_id is not None:
        conditions.append(Message.cart_id == cart_id)
    if customer_id is not None:
        conditions.append(Message.customer_id == customer_id)
    if channel is not None:
        conditions.append(Message.channel == channel)
    if cart_id is None and customer_id is None:
        raise ValueError("cancel_pending needs a cart or a customer")
    return db.session.execute(
        sa.update(Message).where(*conditions).values(status=MessageStatus.CANCELLED)
        .execution_options(synchronize_session=False)
    ).rowcount
