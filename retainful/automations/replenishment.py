"""``replenishment``: a product that lasts (``replenish_after_days`` on the product) is about to run out that many
days after an order of it: a text if the shopper consented to texts, else an email, with a reorder link on the
store's domain; the text says "reply YES to reorder, REMINDME to hear again in a week". Off by default.

Planned by order intake (``on_order``), one series per (customer, product), named by the order it counts from
(``customer:<id>:product:<product row id>:order:<order id>``): a new order of the product cancels what is pending for
that product and plans the next from itself. The SMS keywords (``retainful/conversations/keywords.py``) call
:func:`reorder_answer` (YES: the reorder link at once) and :func:`remind_again` (REMINDME: the same reminder 7 days
later, under a new key position ``<step>r<n>``).
"""
from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from retainful import clock
from retainful.automations import planner, registry
from retainful.automations.base import Automation, StepDefault, Target, consented_channels
from retainful.automations.lifecycle import VOIDED, subject_of
from retainful.automations.settings import enabled_steps
from retainful.extensions import db
from retainful.messaging import outbox
from retainful.models import Customer, Message, MessageStatus, Order, Product, Store
from retainful.products import replenishable
from retainful.rendering.context import order_view, sample_order
from retainful.rendering.links import reorder_url
from retainful.words import N_

REPLENISHMENT = "replenishment"
REMIND_AGAIN = timedelta(days=7)
# YES and REMINDME answer a reminder sent this recently; older, they are an ordinary text for the inbox.
KEYWORD_WINDOW = timedelta(days=30)
_SUBJECT = re.compile(r"^customer:(\d+):product:(\d+):order:(\d+)$")


def series(customer_id: int, product_row_id: int, order_id: int) -> str:
    return f"customer:{customer_id}:product:{product_row_id}:order:{order_id}"


def _series_prefix(customer_id: int, product_row_id: int) -> str:
    """Every key of a customer's reminders of one product, whatever order they count from."""
    return f"{REPLENISHMENT}:customer:{customer_id}:product:{product_row_id}:"


class Replenishment(Automation):
    kind = REPLENISHMENT
    title = N_("Replenishment reminders")
    default_steps = (StepDefault(timedelta(0), email=True, sms=True),)
    min_delay = timedelta(0)  # the product's replenish_after_days is the delay; a step may add to it
    max_delay = timedelta(days=30)

    def channels_for(self, step, customer):
        """One message: the text when the shopper consented to texts, else the email."""
        reachable = consented_channels(step, customer)
        return ("sms",) if "sms" in reachable else reachable

    def on_order(self, order, store, created):
        """Each replenishable product of a new order restarts its count from this order."""
        customer = order.customer
        if not created or customer is None or order.status in VOIDED:
            return
        products = replenishable(store.id, (line["product_id"] for line in order.lines))
        targets = []
        for product in products.values():
            outbox.cancel(customer_id=customer.id, kinds=[self.kind], key_prefix=_series_prefix(customer.id,
                                                                                                 product.id))
            targets.append(Target(series(customer.id, product.id, order.id), customer,
                                  order.placed_at + timedelta(days=product.replenish_after_days)))
        if targets:
            planner.plan(self, store, targets, enabled_steps(store, self)[1],
                         not_before=clock.now() - self.stale_after)

    def stop_reason(self, message, cart, customer, history):
        found = reminded(message)
        if found is None:
            return "order_deleted"
        order, product = found
        if product.replenish_after_days is None:
            return "not_replenished"
        return f"order_{order.status}" if order.status in VOIDED else None

    def template_vars(self, message, store):
        found = reminded(message)
        return reminder_vars(store, *found) if found is not None else {}

    def sample_vars(self, store):
        return {"product": {"id": "102", "name": "Loose-leaf tea sampler"}, "quantity": 1,
                "reorder_url": reorder_url(store, "102", 1), "order": sample_order(store)}


REPLENISH = registry.register(Replenishment())


def reminded(message: Message) -> tuple[Order, Product] | None:
    """The order and product a reminder is about (its store's), or None if either is gone."""
    match = _SUBJECT.match(subject_of(message))
    if match is None:
        return None
    product, order = db.session.get(Product, int(match[2])), db.session.get(Order, int(match[3]))
    if product is None or order is None or {product.store_id, order.store_id} != {message.store_id}:
        return None
    return order, product


def reminder_vars(store: Store, order: Order, product: Product) -> dict:
    """``product`` (id, name), ``quantity`` (as ordered), ``reorder_url`` and ``order``."""
    line = next((line for line in order.lines if line["product_id"] == product.product_id), {})
    quantity = line.get("quantity", 1)
    return {"product": {"id": product.product_id, "name": product.name}, "quantity": quantity,
            "reorder_url": reorder_url(store, line.get("variant_id") or product.product_id, quantity, order.cart),
            "order": order_view(order)}


def latest_reminder(customer: Customer) -> Message | None:
    """The customer's last reminder sent within ``KEYWORD_WINDOW``: what YES and REMINDME answer."""
    return db.session.scalar(sa.select(Message).where(
        Message.customer_id == customer.id, Message.kind == REPLENISHMENT, Message.status == MessageStatus.SENT,
        Message.sent_at >= clock.now() - KEYWORD_WINDOW).order_by(Message.sent_at.desc(), Message.id.desc()).limit(1))


def reorder_answer(store: Store, customer: Customer) -> str:
    """YES: the reorder link of the latest reminder."""
    message = latest_reminder(customer)
    found = reminded(message) if message is not None else None
    if found is None:  # its order or product was deleted since
        return f"{store.name}: Sorry, that item can't be reordered by text any more. Shop at https://{store.domain}"
    link = reminder_vars(store, *found)["reorder_url"]
    return f"{store.name}: Here is your reorder link: {link} Reply STOP to opt out."


def remind_again(customer: Customer) -> None:
    """REMINDME: the latest reminder planned again ``REMIND_AGAIN`` from now, under a new key position (so every
    REMINDME is one more reminder, never a repeat of a row already sent). Commits."""
    message = latest_reminder(customer)
    if message is None:
        return
    subject = subject_of(message)
    position = message.step.position if message.step is not None else 1
    earlier = db.session.scalar(sa.select(sa.func.count()).select_from(Message).where(
        Message.store_id == message.store_id, Message.kind == REPLENISHMENT,
        Message.dedup_key.startswith(f"{REPLENISHMENT}:{subject}:{position}r", autoescape=True)))
    again = f"{position}r{earlier + 1}"
    channels = REPLENISH.channels_for(message.step, customer) if message.step is not None else (message.channel,)
    outbox.enqueue([outbox.Planned(
        store_id=message.store_id, kind=REPLENISHMENT, channel=channel,
        dedup_key=planner.dedup_key(REPLENISHMENT, subject, again, channel), due_at=clock.now() + REMIND_AGAIN,
        customer_id=customer.id, step_id=message.step_id, trigger_at=message.trigger_at) for channel in channels])
    db.session.commit()
