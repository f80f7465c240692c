"""What the customer-lifecycle automations share (welcome, post_purchase, order_update, birthday): the order a
message is about, the coupon of a series, a sample coupon for previews.

A message names its subject in its de-duplication key (``"<kind>:<subject>:<position>:<channel>"``), so an order's
messages find their order and a series' steps find the coupon an earlier step carried, with no column for either.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from retainful import clock
from retainful.automations.base import Target
from retainful.coupons import step_coupon
from retainful.extensions import db
from retainful.models import Coupon, Message, Order, Store
from retainful.rendering.context import OrderView, order_view

VOIDED = frozenset({"cancelled", "refunded", "failed", "trash"})  # an order that brought nothing
COMPLETED = "completed"  # WooCommerce's "shipped"


def completed_order(order: Order) -> Target | None:
    """An order that has reached ``completed`` as a target (the order is the subject, its completion the trigger),
    or None: not completed, or nobody to write to."""
    if order.status != COMPLETED or order.customer is None or order.completed_at is None:
        return None
    return Target(f"order:{order.id}", order.customer, order.completed_at)


def subject_of(message: Message) -> str:
    """``order:7`` of ``post_purchase:order:7:1:email``."""
    return message.dedup_key.split(":", 1)[1].rsplit(":", 2)[0]


def order_of(message: Message) -> Order | None:
    """The order an order's message is about (its store's), or None if it is gone."""
    kind, _, number = subject_of(message).partition(":")
    if kind != "order" or not number.isdigit():
        return None
    order = db.session.get(Order, int(number))
    return order if order is not None and order.store_id == message.store_id else None


def order_view_of(message: Message) -> OrderView | None:
    """What templates see of the message's order."""
    order = order_of(message)
    return order_view(order) if order is not None else None


def voided_reason(message: Message) -> str | None:
    """A skip reason when the message's order was cancelled, refunded, failed or deleted since it was planned."""
    order = order_of(message)
    if order is None:
        return "order_deleted"
    return f"order_{order.status}" if order.status in VOIDED else None


def series_coupon(message: Message, store: Store, kind: str) -> Coupon | None:
    """The coupon of the message's series: the one an earlier message of the same subject carries, else minted
    now from the first step of the automation that has a coupon rule (this one, or an earlier one that did not go
    out: an SMS-only subscriber still gets the welcome code). None when no step has a rule."""
    prefix = message.dedup_key.rsplit(":", 2)[0] + ":"
    carried = db.session.scalar(sa.select(Coupon).join(Message, Message.coupon_id == Coupon.id).where(
        Message.customer_id == message.customer_id, Message.kind == message.kind,
        Message.dedup_key.startswith(prefix, autoescape=True)).limit(1))
    if carried is not None:
        return carried
    step = message.step
    rule = step if step is not None and step.coupon_type else next(
        (s for s in (step.sequence.steps if step is not None else []) if s.coupon_type), None)
    if rule is None or message.customer is None:
        return None
    return step_coupon(rule, message.customer, store, kind=kind, currency=store.currency)


def sample_coupon(discount: str, days: int) -> dict[str, Any]:
    """A coupon as templates see it (``dispatch.coupon_vars``), for previews."""
    return {"code": "RT-SAMP-LE42", "discount": discount, "expires_at": clock.now() + timedelta(days=days)}
