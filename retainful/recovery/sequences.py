"""Each store's abandoned-cart sequence: created with the store, editable step by step."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa

from retainful.errors import FieldError
from retainful.extensions import db
from retainful.models import ABANDONED_CART, DiscountType, Sequence, Step, Store
from retainful.money import MAX_AMOUNT

# (delay after the cart's last activity, email, sms, coupon percent). SMS only on the first step: US carriers allow
# one abandoned-cart text per cart within 48 hours, and the send policy enforces that even if a store adds more.
# A 10% coupon on the 2-day step: early reminders work without one, so the discount goes where it is needed.
DEFAULT_STEPS = (
    (timedelta(minutes=30), True, True, None),
    (timedelta(hours=6), True, False, None),
    (timedelta(days=2), True, False, Decimal(10)),
    (timedelta(days=4), True, False, None),
    (timedelta(days=7), True, False, None),
)
MAX_DELAY = timedelta(days=60)


def create_default_sequence(store: Store) -> Sequence:
    """The recommended five-step sequence; added to the session, committed by the caller."""
    sequence = Sequence(store_id=store.id, kind=ABANDONED_CART, steps=[
        Step(store_id=store.id, position=position, delay_minutes=int(delay.total_seconds() // 60), email=email,
             sms=sms, coupon_type=DiscountType.PERCENT if percent else None, coupon_amount=percent)
        for position, (delay, email, sms, percent) in enumerate(DEFAULT_STEPS, start=1)
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
    coupon_type: str | None = None,
    coupon_amount: Decimal | None = None,
    coupon_minimum: Decimal | None = None,
    coupon_valid_hours: int | None = None,
    remove_coupon: bool = False,
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
    _apply_coupon_rule(step, coupon_type, coupon_amount, coupon_minimum, coupon_valid_hours, remove_coupon)
    db.session.commit()
    return step


def _apply_coupon_rule(step: Step, kind: str | None, amount: Decimal | None, minimum: Decimal | None,
                       valid_hours: int | None, remove: bool) -> None:
    """A step's coupon: percent (1-100), fixed (> 0) or free shipping, an optional minimum and a validity."""
    if remove:
        step.coupon_type = step.coupon_amount = step.coupon_minimum = None
        return
    if kind is not None:
        if kind not in DiscountType.ALL:
            raise FieldError("coupon_type", "One of percent, fixed, free_shipping.")
        step.coupon_type = kind
    if amount is not None:
        step.coupon_amount = amount
    if minimum is not None:
        step.coupon_minimum = minimum
    if valid_hours is not None:
        if not 1 <= valid_hours <= 24 * 90:
            raise FieldError("coupon_valid_hours", "Between 1 hour and 90 days.")
        step.coupon_valid_hours = valid_hours
    if step.coupon_type == DiscountType.PERCENT and not (step.coupon_amount and 0 < step.coupon_amount <= 100):
        raise FieldError("coupon_amount", "A percentage between 0 and 100.")
    if step.coupon_type == DiscountType.FIXED and not (step.coupon_amount and 0 < step.coupon_amount <= MAX_AMOUNT):
        raise FieldError("coupon_amount", f"A positive amount up to {MAX_AMOUNT}.")
    if step.coupon_minimum is not None and not 0 <= step.coupon_minimum <= MAX_AMOUNT:
        raise FieldError("coupon_minimum", f"From 0 to {MAX_AMOUNT}.")
