"""The one planner: an automation's targets become outbox rows, once per (automation, subject, step, channel).

Event-driven automations call :func:`plan` when their trigger happens (a cart abandoned, an order recorded); scanning
ones (win_back) are asked for who is due by the ``automations`` job (:func:`plan_due`), in bounded batches.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Iterable

import sqlalchemy as sa

from retainful import clock
from retainful.automations import registry
from retainful.automations.base import Automation, Target
from retainful.automations.send_time import at_local_hour, recipient_zone
from retainful.automations.settings import enabled_steps
from retainful.extensions import db
from retainful.messaging import outbox
from retainful.models import Sequence, Step, Store

log = logging.getLogger(__name__)

PLAN_BATCH = 500


def dedup_key(kind: str, subject: str, position: int | str, channel: str) -> str:
    """The row's name in its store's outbox: the same subject planned twice gets the same key. ``position`` is the
    step's, or a step's repeat ("1r2": replenishment's second REMINDME)."""
    return f"{kind}:{subject}:{position}:{channel}"


def due_at(step: Step, target: Target, store: Store) -> datetime:
    """The step's delay after the trigger, then (with an ``at_hour``) that hour of the recipient's local day."""
    due = target.trigger_at + step.delay
    if step.at_hour is None:
        return due
    customer = target.customer
    return at_local_hour(due, recipient_zone(customer.phone, customer.locale, store.timezone), step.at_hour)


def plan(automation: Automation, store: Store, targets: Iterable[Target], steps: list[Step] | None = None,
         *, not_before=None) -> int:
    """Enqueue the steps' messages for these targets (the store's enabled steps unless given). Steps due before
    ``not_before`` are not planned (a win-back switched on today does not send last month's step). Returns how many
    rows were (re)scheduled; the caller commits."""
    if steps is None:
        _, steps = enabled_steps(store, automation)
    rows = []
    for target in targets:
        for step in steps:
            when = due_at(step, target, store)
            if not_before is not None and when < not_before:
                continue
            for channel in automation.channels_for(step, target.customer):
                rows.append(outbox.Planned(
                    store_id=store.id, kind=automation.kind, channel=channel,
                    dedup_key=dedup_key(automation.kind, target.subject, step.position, channel), due_at=when,
                    customer_id=target.customer.id, cart_id=target.cart_id, step_id=step.id,
                    coupon_id=target.coupon_id, trigger_at=target.trigger_at))
    return outbox.enqueue(rows)


def _scans(automation: Automation) -> bool:
    return type(automation).due is not Automation.due


def plan_due(batch_size: int = PLAN_BATCH) -> dict[str, int]:
    """The ``automations`` job: every scanning automation, for every store that has it on, plans who is due, a
    batch at a time (each committed), until its ``due`` returns less than a full batch."""
    counts: dict[str, int] = {}
    for automation in filter(_scans, registry.all_automations()):
        store_ids = list(db.session.scalars(sa.select(Sequence.store_id).where(
            Sequence.kind == automation.kind, Sequence.enabled.is_(True)).order_by(Sequence.store_id)))
        planned = 0
        for store_id in store_ids:
            store = db.session.get(Store, store_id)
            while True:
                settings, steps = enabled_steps(store, automation)
                if not steps or store.paused:
                    break
                now = clock.now()
                targets = automation.due(store, settings, now, batch_size)
                planned += plan(automation, store, targets, steps, not_before=now - automation.stale_after)
                db.session.commit()
                if len(targets) < batch_size:
                    break
        counts[automation.kind] = planned
    if any(counts.values()):
        log.info("automations: %s", counts)
    return counts
