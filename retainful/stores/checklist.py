"""The first-run checklist the dashboard shows until a store is set up: each item's state comes from what the store
has really done (a cart received, settings saved, a test-send made), or from a confirmation stamped on the store."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa

from retainful import clock
from retainful.extensions import db
from retainful.models import Cart, Order, Store

# Items confirmed by an action that leaves nothing else behind: the store column that records when it happened.
STAMPS = {"test_send": "test_send_at", "sequence_reviewed": "sequence_reviewed_at",
          "automations_chosen": "automations_chosen_at"}


def _connected(store: Store) -> bool:
    """The shop has talked to us: the Retainful plugin's connect call, or a first cart or order from the shop."""
    if store.retainful_connected_at is not None:
        return True
    return any(db.session.scalar(sa.select(model.id).where(model.store_id == store.id).limit(1)) is not None
               for model in (Cart, Order))


def _stamped(key: str) -> Callable[[Store], bool]:
    return lambda store: getattr(store, STAMPS[key]) is not None


# In the order the dashboard lists them.
CHECKS: dict[str, Callable[[Store], bool]] = {
    "store_connected": _connected,
    "sender_set": lambda store: bool(store.sender_email and store.postal_address),
    "test_send": _stamped("test_send"),
    "sequence_reviewed": _stamped("sequence_reviewed"),
    "automations_chosen": _stamped("automations_chosen"),
}


@dataclass(frozen=True)
class Item:
    key: str
    done: bool


def items(store: Store) -> list[Item]:
    return [Item(key, check(store)) for key, check in CHECKS.items()]


def mark(store: Store, key: str, *, commit: bool = True) -> None:
    """Record that a confirmed item happened (the first time only: the checklist needs no later ones)."""
    column = STAMPS[key]
    if getattr(store, column) is None:
        setattr(store, column, clock.now())
        if commit:
            db.session.commit()
