"""Each store's abandoned-cart sequence: created with the store, editable step by step."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from retainful.errors import FieldError
from retainful.extensions import db
from retainful.models import ABANDONED_CART, Sequence, Step, Store

# (delay after the cart's last activity, email, sms). SMS only on the first step: US carriers allow one
# abandoned-cart text per cart within 48 hours, and the send policy enforces that even if a store adds more.
DEFAULT_STEPS = (
    (timedelta(minutes=30), True, True),
    (timedelta(hours=6), True, False),
    (timedelta(days=2), True, False),
    (timedelta(days=4), True, False),
    (timedelta(days=7), True, False),
)
MAX_DELAY = timedelta(days=60)


def create_default_sequence(store: Store) -> Sequence:
    """The recommended five-step sequence; added to the session, committed by the caller."""
    sequence = Sequence(store_id=store.id, kind=ABANDONED_CART, steps=[
        Step(store_id=store.id, position=position, delay_minutes=int(delay.total_seconds() // 60), email=email,
             sms=sms)
        for position, (delay, email, sms) in enumerate(DEFAULT_STEPS, start=1)
    ])
    db.session.add(sequence)
    return sequence


def abandoned_cart_sequence(store_id: int) -> Sequence | None:
    return db.session.scalar(
        sa.select(Sequence).where(Sequence.store_id == store_id, Sequence.kind == ABANDONED_CART)
    )


def update_step(
    store: Store,
    position: int,
    *,
    delay: timedelta | None = None,
    email: bool | None = None,
    sms: bool | None = None,
    enabled: bool | None = None,
) -> Step:
    """Change one step; the steps must stay in delay order so "step 3" always comes after "step 2"."""
    sequence = abandoned_cart_sequence(store.id)
    step = next((s for s in sequence.steps if s.position == position), None) if sequence else None
    if step is None:
        raise FieldError("position", f"No step {position} in this store's sequence.")
    if delay is not None:
        if not timedelta(minutes=1) <= delay <= MAX_DELAY:
            raise FieldError("delay", "Between 1 minute and 60 days.")
        minutes = int(delay.total_seconds() // 60)
        before = [s.delay_minutes for s in sequence.steps if s.position < position]
        after = [s.delay_minutes for s in sequence.steps if s.position > position]
        if (before and minutes <= max(before)) or (after and minutes >= min(after)):
            raise FieldError("delay", "Must be after the previous step's delay and before the next step's.")
        step.delay_minutes = minutes
    for name, value in (("email", email), ("sms", sms), ("enabled", enabled)):
        if value is not None:
            setattr(step, name, value)
    db.session.commit()
    return step
