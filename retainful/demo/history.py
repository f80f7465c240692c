"""A store's demo history, simulated: shoppers report carts, leave or buy; the sweeps abandon carts and plan their
messages; the dispatcher renders and "sends" them through the sandbox providers; shoppers open, click, order with
the coupons they were sent, subscribe and write back. Every row is made by the same domain function as in
production, with the clock moved through the days, so the reports, the attribution and the pages agree with each
other as they would on a live shop.

The first half of the period runs with recovery off (tracking only), the second with it on
(``recovery_started_at`` in the middle), so the before/after report has both halves. Weekdays bring more carts than
weekends. The same seed gives the same history.
"""
from __future__ import annotations

import heapq
import itertools
import random
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Callable
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from babel.numbers import get_currency_precision
from flask import current_app

from retainful import automations, carts, clock
from retainful.conversations import service as conversations
from retainful.coupons.redemption import CouponUnavailable, find_coupon, redeem
from retainful.customers.subscribers import subscribe
from retainful.extensions import db
from retainful.messaging import outbox, tracking
from retainful.messaging.dispatch import Dispatcher, Providers, Unrecorded
from retainful.messaging.providers.sandbox import SandboxEmailProvider, SandboxSmsProvider
from retainful.models import (ABANDONED_CART, Cart, CartStatus, ConsentEvent, Conversation, ConversationMessage, Coupon,
                              CouponRedemption, Customer, Message, MessageStatus, Order, OutgoingWebhook, Store)
from retainful.orders.intake import record_order

TICK = timedelta(hours=1)  # how often the simulated worker runs its sweeps
DISPATCH_EVERY = 2  # ticks between dispatcher runs: each costs a few transactions, and a demo needs no punctuality
PLAN_EVERY = 6  # ticks between runs of the scanning automations (win-back)
# Automations switched on when recovery starts (abandoned_cart and next_order are on for every new store).
SWITCHED_ON = (ABANDONED_CART, "next_order", "win_back", "welcome", "post_purchase")
HOLDOUT_PERCENT = 10  # so the holdout report has a control group
# Rows of the store's history, children first: what --replace deletes (settings, templates and users stay).
HISTORY_MODELS = (OutgoingWebhook, ConversationMessage, Conversation, Message, CouponRedemption, Coupon, Order, Cart,
                  ConsentEvent, Customer)

FIRST_NAMES = ("Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "Mateo", "Isabella", "Lucas", "Mia",
               "Amelia", "Ethan", "Harper", "Aiden", "Chloe", "Yuki", "Priya", "Omar", "Lena", "Diego", "Fatima",
               "Jonas", "Zoe", "Kwame", "Ingrid", "Ravi", "Sofia", "Hugo", "Maya")
LAST_NAMES = ("Smith", "Johnson", "Garcia", "Brown", "Nguyen", "Martinez", "Kim", "Patel", "Rossi", "Müller",
              "Cohen", "Okafor", "Silva", "Dubois", "Larsen", "Tanaka", "Walker", "Lopez", "Novak", "Ahmed")
# With 555-01xx, fictional numbers; shopper n gets area code n // 100 and line 01(n % 100): one number per shopper.
AREA_CODES = ("201", "212", "305", "312", "415", "503", "512", "617", "702", "808", "206", "303", "404", "480", "602",
              "615", "704", "713", "919", "971")
PRODUCTS = (("mug-classic", "Classic stoneware mug", "14.00"), ("mug-travel", "Insulated travel mug", "29.00"),
            ("beans-house", "House blend beans, 1 kg", "24.50"), ("beans-single", "Single-origin beans, 250 g", "16.90"),
            ("grinder", "Hand grinder", "59.00"), ("kettle", "Gooseneck kettle", "79.00"),
            ("filters", "Paper filters (100)", "6.50"), ("dripper", "Ceramic dripper", "32.00"),
            ("scale", "Brew scale", "45.00"), ("gift-card", "Gift card", "50.00"))
QUESTIONS = ("Do you ship to Canada?", "Is the travel mug dishwasher safe?", "Can I still use the code tomorrow?",
             "Which beans would you pick for espresso?", "My card was declined, can I pay another way?")
ANSWERS = ("Yes! Shipping to Canada takes 4-6 days.", "It is: top rack, lid off.",
           "Of course, it is valid until the date in the email.", "The house blend: chocolatey and forgiving.",
           "You can pay with PayPal at checkout, and your cart is still there.")
# Shoppers' carts by local hour: quiet at night, a lunch bump, the evening peak.
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 7, 6, 6, 6, 7, 9, 11, 12, 10, 6, 3)


class DemoHistoryExists(Exception):
    """The store has carts or orders already: demo history would mix with them."""


def has_history(store: Store) -> bool:
    return any(db.session.scalar(sa.select(model.id).where(model.store_id == store.id).limit(1)) is not None
               for model in (Cart, Order, Customer))


def clear_history(store: Store) -> None:
    """Delete the store's carts, customers, orders, messages, coupons and conversations (not its settings)."""
    for model in HISTORY_MODELS:
        db.session.execute(sa.delete(model).where(model.store_id == store.id)
                           .execution_options(synchronize_session=False))
    db.session.commit()
    db.session.expire_all()


def generate(store: Store, *, days: int = 90, seed: int = 1, replace: bool = False,
             progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Simulate ``days`` of history ending now; ``progress(days_done)`` is called as each day is done. Returns counts
    of what was made. Refuses (DemoHistoryExists) a store with history unless ``replace``."""
    if days < 2:
        raise ValueError("days must be at least 2: one before recovery starts, one after")
    if has_history(store):
        if not replace:
            raise DemoHistoryExists(f"store {store.id} has carts, customers or orders already")
        clear_history(store)
    db.session.commit()  # the quick connections below are new ones: none may be held across
    with clock.restored(), _quick_commits():
        _Simulation(store, days, random.Random(seed), progress or (lambda done: None)).run()
    return counts(store)


@contextmanager
def _quick_commits():
    """The simulation commits thousands of times, as production does; here a commit need not wait for the disk
    (SQLite syncs its WAL at checkpoints only, PostgreSQL answers before its WAL is flushed). A crash could lose the
    last moments of the history, never its consistency, and ``--replace`` makes it again. The connections so set
    are closed afterwards, so the rest of the process commits as usual."""
    engine = db.engine

    def quicken(dbapi_connection, record, _proxy) -> None:
        if not record.info.get("demo_quick_commits"):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA synchronous=NORMAL" if engine.dialect.name == "sqlite"
                           else "SET synchronous_commit TO off")
            cursor.close()
            dbapi_connection.commit()
            record.info["demo_quick_commits"] = True

    sa.event.listen(engine, "checkout", quicken)
    try:
        yield
    finally:
        sa.event.remove(engine, "checkout", quicken)
        db.session.commit()
        engine.dispose()


def counts(store: Store) -> dict[str, int]:
    def count(model, *where) -> int:
        return db.session.scalar(sa.select(sa.func.count(model.id)).where(model.store_id == store.id, *where))
    return {"carts": count(Cart), "customers": count(Customer), "orders": count(Order),
            "messages_sent": count(Message, Message.status == MessageStatus.SENT),
            "messages_scheduled": count(Message, Message.status == MessageStatus.SCHEDULED),
            "clicks": count(Message, Message.clicked_at.is_not(None)), "coupons": count(Coupon),
            "conversations": count(Conversation)}


class _Simulation:
    """Events in time order (a heap); the worker's jobs run every TICK between them."""

    def __init__(self, store: Store, days: int, rng: random.Random, progress: Callable[[int], None]):
        self.store_id, self.days, self.rng, self.progress = store.id, days, rng, progress
        self.end = clock.now()
        # On the hour, so the worker's rounds fall at the same times of day on every run.
        self.start = (self.end - timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
        self.split = self.start + timedelta(days=days // 2)
        self.zone = ZoneInfo(store.timezone)
        # Prices are in dollars; a currency without minor units (KRW, JPY) gets them ×1000: a 14 000 won mug.
        self.scale = Decimal(1000) if get_currency_precision(store.currency) == 0 else Decimal(1)
        self.currency = store.currency
        self.events: list[tuple[datetime, int, Callable, tuple]] = []
        self.sequence = itertools.count()
        self.shopper_numbers = itertools.count()
        self.shoppers = [self._shopper() for _ in range(max(40, days * 3))]
        self.order_numbers = itertools.count(1001)
        self.cart_numbers = itertools.count(1)
        self.dispatcher = _InlineDispatcher(current_app._get_current_object(),
                                            Providers(SandboxEmailProvider(), SandboxSmsProvider()))
        self.last_dispatch = self.start

    # The store and the timeline -----------------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        return db.session.get(Store, self.store_id)

    def at(self, when: datetime, action: Callable, *args: Any) -> None:
        if self.start <= when < self.end:
            heapq.heappush(self.events, (when, next(self.sequence), action, args))

    def run(self) -> None:
        clock.freeze(self.start)
        store = self.store
        store.holdout_percent = 0  # no control group before recovery starts, on a --replace too (a first run set it)
        db.session.commit()
        for kind in SWITCHED_ON:
            automations.set_enabled(store, kind, False)  # tracking only, until recovery starts
        self.at(self.split, self.start_recovery)
        for day in range(self.days + 1):  # the first and last are partial days
            self._plan_day(self.start + timedelta(days=day))
        tick, ticks, done = self.start, 0, 0
        while tick < self.end:
            while self.events and self.events[0][0] <= tick:
                when, _, action, args = heapq.heappop(self.events)
                clock.freeze(when)
                action(*args)
            clock.freeze(tick)
            self._work(ticks)
            ticks += 1
            tick += TICK
            if (tick - self.start).days > done:
                done = (tick - self.start).days
                self.progress(done)
        clock.freeze(self.end)
        self._work(0)
        db.session.commit()
        self.progress(self.days)

    def start_recovery(self) -> None:
        store = self.store
        store.recovery_started_at = clock.now()
        store.holdout_percent = HOLDOUT_PERCENT
        db.session.commit()
        for kind in SWITCHED_ON:
            automations.set_enabled(store, kind, True)

    def _plan_day(self, day: datetime) -> None:
        """The day's carts (fewer at weekends), direct orders and, once recovery runs, sign-ups."""
        local_day = day.astimezone(self.zone)
        weekend = local_day.weekday() >= 5
        midnight = local_day.replace(hour=0, minute=0, second=0, microsecond=0)
        for _ in range(self.rng.randint(4, 7) if weekend else self.rng.randint(9, 13)):
            self.at(self._moment(midnight), self.cart_reported, self.rng.choice(self.shoppers))
        for _ in range(self.rng.randint(0, 2)):
            self.at(self._moment(midnight), self.ordered, self.rng.choice(self.shoppers), None, None)
        if day >= self.split and self.rng.random() < 0.7:
            self.at(self._moment(midnight), self.subscribed, self._shopper())

    def _moment(self, local_midnight: datetime) -> datetime:
        hour = self.rng.choices(range(24), HOUR_WEIGHTS)[0]
        moment = local_midnight + timedelta(hours=hour, minutes=self.rng.randrange(60), seconds=self.rng.randrange(60))
        return moment.astimezone(clock.UTC)

    def _work(self, ticks: int) -> None:
        """One round of the worker: abandon, close, plan the scanning automations, dispatch what is due. A sweep with
        nothing due is not run (one query finds out), sparing the many empty rounds their statements."""
        now = clock.now()
        abandon_due, lost_due, send_due = db.session.execute(sa.select(
            sa.exists().where(Cart.store_id == self.store_id, Cart.status == CartStatus.LIVE,
                              Cart.abandon_due_at <= now),
            sa.exists().where(Cart.store_id == self.store_id, Cart.status == CartStatus.ABANDONED,
                              Cart.lost_due_at <= now),
            sa.exists().where(Message.store_id == self.store_id, Message.status == MessageStatus.SCHEDULED,
                              Message.due_at <= now))).one()
        if abandon_due:
            for cart_id in carts.sweep_abandoned():
                if self.rng.random() < 0.06:  # some come back on their own, messaged or not (the holdout's baseline)
                    self.at(now + timedelta(hours=self.rng.uniform(2, 96)), self.came_back, cart_id)
        if lost_due:
            carts.close_lost()
        if ticks % PLAN_EVERY == 0:
            automations.plan_due()
            send_due = True
        db.session.commit()  # no transaction open while the dispatcher writes (SQLite has one writer)
        if not send_due or ticks % DISPATCH_EVERY:
            return
        self.dispatcher.run_due()
        for message in db.session.scalars(sa.select(Message).where(
                Message.store_id == self.store_id, Message.status == MessageStatus.SENT,
                Message.sent_at > self.last_dispatch).order_by(Message.id)):
            self._react(message)
        self.last_dispatch = now
        db.session.commit()

    # Shoppers -----------------------------------------------------------------------------------------------------

    def _shopper(self) -> dict[str, Any]:
        n = next(self.shopper_numbers)
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        shopper = {"first_name": first, "last_name": last,
                   "email": f"{first}.{last}.{n}@example.com".lower().replace("ü", "ue"),
                   "email_consent": self.rng.random() < 0.85}
        if self.rng.random() < 0.45 and n < len(AREA_CODES) * 100:
            shopper["phone"] = f"+1{AREA_CODES[n // 100]}55501{n % 100:02d}"
            shopper["sms_consent"] = self.rng.random() < 0.7
        if self.rng.random() < 0.3:
            shopper["external_id"] = f"demo-{n}"
        return shopper

    def _items(self) -> list[dict[str, Any]]:
        picked = self.rng.sample(PRODUCTS, self.rng.choice((1, 1, 1, 2, 2, 3)))
        return [{"product_id": pid, "name": name, "quantity": self.rng.choice((1, 1, 1, 2)),
                 "price": Decimal(price) * self.scale} for pid, name, price in picked]

    def cart_reported(self, shopper: dict[str, Any]) -> None:
        items = self._items()
        total = sum(item["price"] * item["quantity"] for item in items)
        token = f"demo-{next(self.cart_numbers)}"
        guest = self.rng.random() < 0.12  # left before giving an email: not reachable
        carts.report_cart(self.store, token, {
            "customer": None if guest else shopper, "currency": self.currency, "items": items, "subtotal": total,
            "total": total, "recovery_url": f"https://{self.store.domain}/cart?restore={token}"})
        if self.rng.random() < 0.33:  # bought there and then, before the cut-off
            self.at(clock.now() + timedelta(minutes=self.rng.uniform(2, 12)), self.ordered, shopper, token, None)

    def came_back(self, cart_id: int) -> None:
        cart = db.session.get(Cart, cart_id)
        if cart is not None and cart.status == CartStatus.ABANDONED and cart.customer is not None:
            self.ordered(self._contact(cart.customer), cart.token, None)

    @staticmethod
    def _contact(customer: Customer) -> dict[str, Any]:
        return {"email": customer.email} if customer.email else {"phone": customer.phone}

    def ordered(self, shopper: dict[str, Any], cart_token: str | None, coupon_code: str | None) -> None:
        order_id = f"#{next(self.order_numbers)}"
        cart = carts.get_cart(self.store, cart_token) if cart_token else None
        total = cart.total if cart is not None else sum(
            item["price"] * item["quantity"] for item in self._items())
        order, _ = record_order(self.store, {
            "order_id": order_id, "cart_token": cart_token, "customer": shopper, "total": total,
            "currency": self.currency, "status": "processing", "coupon_codes": [coupon_code] if coupon_code else []})
        coupon = find_coupon(self.store, coupon_code) if coupon_code else None
        if coupon is not None:
            try:
                redeem(coupon, order_id, shopper.get("email"))
            except CouponUnavailable:
                pass  # expired or used: the order stands, the code did not apply
        if self.rng.random() < 0.85:  # shipped a day or three later
            self.at(clock.now() + timedelta(hours=self.rng.uniform(20, 80)), self.completed, order_id, shopper)

    def completed(self, order_id: str, shopper: dict[str, Any]) -> None:
        order = db.session.scalar(sa.select(Order).where(Order.store_id == self.store_id,
                                                         Order.external_id == order_id))
        record_order(self.store, {"order_id": order_id, "customer": shopper, "total": order.total,
                                  "currency": self.currency, "status": "completed"})

    def subscribed(self, shopper: dict[str, Any]) -> None:
        subscribe(self.store, {**shopper, "email_consent": True}, "popup")

    # Reactions to a message sent ----------------------------------------------------------------------------------

    def _react(self, message: Message) -> None:
        rng, sent = self.rng, message.sent_at
        if message.channel == "email" and rng.random() < 0.45:
            self.at(sent + timedelta(minutes=rng.uniform(3, 300)), tracking.record_open, message.link_code)
        if rng.random() < (0.16 if message.channel == "sms" else 0.11):
            clicked = sent + timedelta(minutes=rng.uniform(4, 400))
            self.at(clicked, self.clicked, message.id)
        if message.kind == ABANDONED_CART and rng.random() < (0.12 if message.channel == "sms" else 0.025):
            self.at(sent + timedelta(minutes=rng.uniform(5, 90)), self.wrote_back, message.customer_id,
                    message.channel)

    def clicked(self, message_id: int) -> None:
        message = db.session.get(Message, message_id)
        tracking.record_click(message.link_code)
        if message.customer is None or self.rng.random() >= (0.45 if message.cart_id else 0.25):
            return
        cart = db.session.get(Cart, message.cart_id) if message.cart_id else None
        code = message.coupon.code if message.coupon is not None else None
        token = cart.token if cart is not None and cart.status in (CartStatus.ABANDONED, CartStatus.LOST) else None
        self.at(clock.now() + timedelta(minutes=self.rng.uniform(3, 90)), self.ordered,
                self._contact(message.customer), token, code)

    def wrote_back(self, customer_id: int, channel: str) -> None:
        """A reply to the message, on its channel (SMS, or email through the Reply-To address)."""
        customer = db.session.get(Customer, customer_id)
        question = self.rng.randrange(len(QUESTIONS))
        conversations.receive(customer, channel, QUESTIONS[question])
        self.at(clock.now() + timedelta(minutes=self.rng.uniform(10, 180)), self.answered, customer_id, question)

    def answered(self, customer_id: int, question: int) -> None:
        conversation = conversations.open_conversation(db.session.get(Customer, customer_id))
        if conversation is None:
            return
        conversations.reply(conversation, ANSWERS[question])
        if self.rng.random() < 0.7:
            conversations.close(conversation)


class _InlineDispatcher(Dispatcher):
    """The dispatcher's own claim, policy, rendering and recording, run in the simulation's thread and session: a
    round's few sandbox sends need no thread pool, no recorder thread and no reclaiming of leases (none expires
    within a round), which cost more than the sends."""

    def run_due(self, stop=None) -> None:
        while True:
            owner, ids = outbox.claim(self.batch_size, self.lease)
            for start in range(0, len(ids), self.concurrency):
                ready, decided = self._prepare_batch(owner, ids[start:start + self.concurrency], Unrecorded())
                outbox.finish_many(decided + [self._call_provider(item) for item in ready])
            if len(ids) < self.batch_size:
                return
