"""Each store's settings of each automation: a ``sequence`` row (unique per store and kind) with its steps.

Rows are made from the automation's defaults with the store (:func:`create_defaults`), and on the first change or
planning for a store made before an automation existed (:func:`settings_for`; a read shows the defaults unsaved,
:func:`current_settings`), so adding an automation needs no data migration.
"""
from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from retainful.automations import registry
from retainful.automations.base import Automation
from retainful.channels import names as channel_names
from retainful.errors import FieldError
from retainful.extensions import db
from retainful.models import DiscountType, Sequence, Step, Store
from retainful.money import MAX_AMOUNT
from retainful.plurals import counted
from retainful.words import N_, Said


def automation_or_error(kind: str) -> Automation:
    automation = registry.get(kind)
    if automation is None:
        raise FieldError("kind", N_("One of %(choices)s.", choices=", ".join(registry.kinds())))
    return automation


def _new_settings(store_id: int, automation: Automation) -> Sequence:
    return Sequence(store_id=store_id, kind=automation.kind, enabled=automation.default_enabled, steps=[
        Step(store_id=store_id, position=position, delay_minutes=int(step.delay.total_seconds() // 60),
             email=step.email, sms=step.sms, at_hour=step.at_hour, enabled=True, coupon_type=step.coupon_type,
             coupon_amount=step.coupon_amount, coupon_valid_hours=step.coupon_valid_hours)
        for position, step in enumerate(automation.default_steps, start=1)
    ])


def create_defaults(store: Store) -> None:
    """Every automation's default settings for a new store; added to the session, committed by the caller."""
    for automation in registry.all_automations():
        db.session.add(_new_settings(store.id, automation))


def find_settings(store_id: int, kind: str) -> Sequence | None:
    return db.session.scalar(sa.select(Sequence).where(Sequence.store_id == store_id, Sequence.kind == kind))


def settings_for(store_id: int, kind: str) -> Sequence:
    """The store's settings of ``kind``, made from the defaults if the store has none yet (in a savepoint: a
    concurrent first use makes the same row, and the loser reads the winner's)."""
    settings = find_settings(store_id, kind)
    if settings is not None:
        return settings
    try:
        with db.session.begin_nested():
            settings = _new_settings(store_id, automation_or_error(kind))
            db.session.add(settings)
    except IntegrityError:
        settings = find_settings(store_id, kind)
    return settings


def current_settings(store_id: int, kind: str) -> Sequence:
    """The store's settings of ``kind`` to show: its row, or the defaults unsaved (a read never writes)."""
    return find_settings(store_id, kind) or _new_settings(store_id, automation_or_error(kind))


def enabled_steps(store: Store, automation: Automation) -> tuple[Sequence, list[Step]]:
    """The settings and the steps that are on; none when the automation is off for this store."""
    settings = settings_for(store.id, automation.kind)
    if not automation.is_enabled(store, settings):
        return settings, []
    return settings, [step for step in settings.steps if step.enabled]


def set_enabled(store: Store, kind: str, enabled: bool) -> Sequence:
    automation = automation_or_error(kind)
    settings = settings_for(store.id, kind)
    automation.set_enabled(store, settings, enabled)
    db.session.commit()
    return settings


_UNSET = object()


def update_step(
    store: Store,
    position: int,
    *,
    kind: str = "abandoned_cart",
    delay: timedelta | None = None,
    at_hour: int | None | object = _UNSET,
    email: bool | None = None,
    sms: bool | None = None,
    enabled: bool | None = None,
    coupon_type: str | None = None,
    coupon_amount: Decimal | None = None,
    coupon_minimum: Decimal | None = None,
    coupon_valid_hours: int | None = None,
    remove_coupon: bool = False,
    commit: bool = True,
) -> Step:
    """Change one step; the steps must stay in delay order so "step 3" always comes after "step 2".
    ``at_hour`` None sends at the delay itself; leave it out to keep the step's."""
    automation = automation_or_error(kind)
    settings = settings_for(store.id, kind)
    step = next((s for s in settings.steps if s.position == position), None)
    if step is None:
        raise FieldError("position", N_("No step %(position)s in this store's %(kind)s automation.", position=position,
                                         kind=kind))
    if delay is not None:
        if not automation.min_delay <= delay <= automation.max_delay:
            raise FieldError("delay", _between(automation))
        minutes = int(delay.total_seconds() // 60)
        before = [s.delay_minutes for s in settings.steps if s.position < position]
        after = [s.delay_minutes for s in settings.steps if s.position > position]
        if (before and minutes <= max(before)) or (after and minutes >= min(after)):
            raise FieldError("delay", N_("Must be after the previous step's delay and before the next step's."))
        step.delay_minutes = minutes
    if at_hour is not _UNSET:
        if at_hour is not None and (isinstance(at_hour, bool) or not isinstance(at_hour, int)
                                    or not 0 <= at_hour <= 23):
            raise FieldError("at_hour", N_("A whole hour from 0 to 23, or null."))
        step.at_hour = at_hour
    for name, value in (("email", email), ("sms", sms), ("enabled", enabled)):
        if value is not None:
            setattr(step, name, value)
    apply_coupon_rule(step, coupon_type, coupon_amount, coupon_minimum, coupon_valid_hours, remove_coupon)
    if commit:
        db.session.commit()
    return step


def _words(delta: timedelta) -> Said:
    minutes = int(delta.total_seconds() // 60)
    if minutes >= 1440 and minutes % 1440 == 0:
        return counted(minutes // 1440, "days")
    return counted(minutes, "minutes")


def _between(automation: Automation) -> Said:
    """The refusal of a delay outside the automation's range."""
    return N_("Between %(low)s and %(high)s.", low=_words(automation.min_delay), high=_words(automation.max_delay))


def apply_coupon_rule(step: Step, kind: str | None, amount: Decimal | None, minimum: Decimal | None,
                       valid_hours: int | None, remove: bool) -> None:
    """A step's (or a campaign's) coupon: percent (1-100), fixed (> 0) or free shipping, a minimum, a validity."""
    if remove:
        step.coupon_type = step.coupon_amount = step.coupon_minimum = None
        return
    if kind is not None:
        if kind not in DiscountType.ALL:
            raise FieldError("coupon_type", N_("One of %(choices)s.", choices=", ".join(DiscountType.ALL)))
        step.coupon_type = kind
    if amount is not None:
        step.coupon_amount = amount
    if minimum is not None:
        step.coupon_minimum = minimum
    if valid_hours is not None:
        if not 1 <= valid_hours <= 24 * 90:
            raise FieldError("coupon_valid_hours", N_("Between 1 hour and 90 days."))
        step.coupon_valid_hours = valid_hours
    if step.coupon_type == DiscountType.PERCENT and not (step.coupon_amount and 0 < step.coupon_amount <= 100):
        raise FieldError("coupon_amount", N_("A percentage between 0 and 100."))
    if step.coupon_type == DiscountType.FIXED and not (step.coupon_amount and 0 < step.coupon_amount <= MAX_AMOUNT):
        raise FieldError("coupon_amount", N_("A positive amount up to %(max)s.", max=MAX_AMOUNT))
    if step.coupon_minimum is not None and not 0 <= step.coupon_minimum <= MAX_AMOUNT:
        raise FieldError("coupon_minimum", N_("From 0 to %(max)s.", max=MAX_AMOUNT))


_DELAY = re.compile(r"\s*(\d{1,6})\s*([mhdw]?)\s*")
_UNITS = {"m": 1, "h": 60, "d": 1440, "w": 10080}


def parse_delay(text: str) -> timedelta:
    """'30m', '6h', '2d', '1w' or plain minutes."""
    match = _DELAY.fullmatch(text.lower()) if isinstance(text, str) else None
    if not match:
        raise FieldError("delay", N_("%(text)r: use 30m, 6h, 2d, 1w or minutes.", text=text))
    return timedelta(minutes=int(match.group(1)) * _UNITS[match.group(2) or "m"])


def format_delay(minutes: int) -> str:
    """The largest unit that divides the delay exactly: 2880 -> "2d", 0 -> "0m"."""
    for unit in ("w", "d", "h"):
        if minutes and minutes % _UNITS[unit] == 0:
            return f"{minutes // _UNITS[unit]}{unit}"
    return f"{minutes}m"


def coupon_rule(step: Step) -> dict | None:
    if step.coupon_type is None:
        return None
    return {"type": step.coupon_type, "amount": step.coupon_amount, "minimum": step.coupon_minimum,
            "valid_hours": step.coupon_valid_hours}


def describe(store: Store, kind: str) -> dict:
    """One automation as the API, the CLI and the admin show it (amounts as Decimal)."""
    automation = automation_or_error(kind)
    settings = current_settings(store.id, kind)
    return {"kind": kind, "title": automation.title, "enabled": automation.is_enabled(store, settings),
            "transactional": automation.transactional, "counts_as_recovered": automation.counts_as_recovered,
            "steps": [{"position": s.position, "delay": format_delay(s.delay_minutes), "at_hour": s.at_hour,
                       "channels": list(s.channels), "coupon": coupon_rule(s), "enabled": s.enabled,
                       "template": automation.template_key(s.position)} for s in settings.steps]}


def describe_all(store: Store) -> list[dict]:
    return [describe(store, automation.kind) for automation in registry.all_automations()]


def replace(store: Store, kind: str, *, enabled: bool, steps: list[dict]) -> dict:
    """Apply a whole automation (the PUT): on or off, and each step named by its position (a store cannot add or
    remove steps, only change them). Every value is checked before anything is committed; a refusal names the
    field (``steps.2.delay``) and leaves the settings as they were."""
    automation = automation_or_error(kind)
    settings = settings_for(store.id, kind)
    by_position = {s.position: s for s in settings.steps}
    seen = set()
    try:
        for index, change in enumerate(steps):
            position = change["position"]
            step = by_position.get(position)
            if step is None or position in seen:
                raise FieldError(f"steps.{index}.position", N_("Steps are %(positions)s, each once.",
                                                                 positions=sorted(by_position)))
            seen.add(position)
            try:
                delay = parse_delay(change["delay"])
                if not automation.min_delay <= delay <= automation.max_delay:
                    raise FieldError("delay", _between(automation))
                step.delay_minutes = int(delay.total_seconds() // 60)
                step.at_hour = change["at_hour"]
                for name in channel_names():  # each channel is a boolean column of the step
                    setattr(step, name, name in change["channels"])
                step.enabled = change["enabled"]
                coupon = change["coupon"]
                if coupon is not None:  # the whole rule is replaced: what the body leaves out is cleared
                    step.coupon_amount, step.coupon_minimum = coupon.get("amount"), coupon.get("minimum")
                apply_coupon_rule(step, coupon and coupon["type"], None, None, coupon and coupon.get("valid_hours"),
                                   remove=coupon is None)
            except FieldError as error:
                field = error.field
                if field.startswith("coupon_"):
                    field = "coupon." + field.removeprefix("coupon_")
                raise FieldError(f"steps.{index}.{field}", error.message) from None
        delays = [s.delay_minutes for s in sorted(settings.steps, key=lambda s: s.position)]
        if any(later <= earlier for earlier, later in zip(delays, delays[1:])):
            raise FieldError("steps", N_("Delays must grow with the position: step 2 comes after step 1."))
        automation.set_enabled(store, settings, enabled)
    except FieldError:
        db.session.rollback()
        raise
    db.session.commit()
    return describe(store, kind)
