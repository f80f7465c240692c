"""The sending pipeline: claim due messages, re-check the policy, render, send concurrently, record.

It lives apart from the domain (listmonk's manager): planning decides *what* should go out, this decides *whether*
it still should, right now, and makes it happen once.
"""
from __future__ import annotations

import logging
import queue
import random
import threading
from collections import Counter, deque
from contextlib import suppress
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, current_app
from sqlalchemy.exc import SQLAlchemyError

from retainful import clock, experiments, heartbeat, logs, shutdown
from retainful.channels import CHANNELS, Channel, channel
from retainful.extensions import db
from retainful.automations import registry
from retainful.conversations.inbound_email import reply_address
from retainful.coupons import discount_text
from retainful.messaging import outbox, policy, tracking
from retainful.messaging.providers import (
    DISABLED,
    EmailProvider,
    OutgoingEmail,
    OutgoingSms,
    ProviderError,
    SmsProvider,
    email_provider,
    sms_provider,
)
from retainful.models import Message, MessageStatus, Store
from retainful.rendering import TemplateError, render_message
from retainful.rendering.engine import TemplateTooExpensive
from retainful.rendering.message import template_key
from retainful.rendering.overrides import current_sources
from retainful.urls import public_urls

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=1)


@dataclass(frozen=True)
class Providers:
    email: EmailProvider
    sms: SmsProvider


def providers_for(app: Flask) -> Providers:
    """The app's providers, built once (their HTTP clients are reused across sends)."""
    cached = app.extensions.get("retainful.providers")
    if cached is None:
        cached = app.extensions["retainful.providers"] = Providers(email_provider(app.config),
                                                                   sms_provider(app.config))
    return cached


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    """Exponential backoff with jitter, never sooner than the provider's Retry-After."""
    delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(attempts - 1, 0)) * random.uniform(0.5, 1.5)
    return max(delay, timedelta(seconds=retry_after or 0))


def coupon_vars(coupon, locale: str | None) -> dict | None:
    """What a template may show of a coupon, its discount in the shopper's language (``locale``: the customer's,
    else the store's, as the template is chosen)."""
    if coupon is None:
        return None
    return {"code": coupon.code, "discount": discount_text(coupon, locale or "en_US"),
            "expires_at": coupon.expires_at}


@dataclass(frozen=True)
class Ready:
    """A message rendered and cleared to go: what a sending thread needs, nothing that touches the database."""

    message_id: int
    owner: str
    attempts: int
    provider: EmailProvider | SmsProvider
    outgoing: OutgoingEmail | OutgoingSms
    content: dict  # recipient, subject and bodies, recorded with the outcome
    recovery_cart_id: int | None  # the cart of an abandoned-cart message
    channel: Channel  # hands ``outgoing`` to ``provider``


class Unrecorded:
    """Sends decided in this run whose outcomes are not written yet: the next batch's policy must count them, and the
    database cannot show them. Entries leave as the recorder writes them, so this holds at most what is in flight."""

    def __init__(self):
        self._sends: dict[int, policy.Send] = {}
        self._lock = threading.Lock()

    def add(self, message_id: int, send: policy.Send) -> None:
        with self._lock:
            self._sends[message_id] = send

    def discard(self, message_ids: list[int]) -> None:
        with self._lock:
            for message_id in message_ids:
                self._sends.pop(message_id, None)

    def snapshot(self) -> list[policy.Send]:
        with self._lock:
            return list(self._sends.values())


class Recorder:
    """Writes outcomes in bulk from a thread of its own, as fast as they arrive: whatever queued up while the last
    write ran goes in the next one.

    A send holds one of ``concurrency`` slots from before the provider call until its outcome is committed, so
    at most ``concurrency`` messages are ever accepted by a provider but not yet recorded: the only ones a killed
    worker can send twice (their lease expires and another worker sends them again).
    """

    def __init__(self, app: Flask, concurrency: int, unrecorded: Unrecorded):
        self.app = app
        self.unrecorded = unrecorded
        self.slots = threading.BoundedSemaphore(concurrency)
        self.counts: Counter = Counter()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="dispatch-recorder", daemon=True)

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._queue.put(None)
        self._thread.join()

    def decided(self, outcomes: list[outbox.Outcome]) -> None:
        """Outcomes settled without a send (skips, deferrals, broken templates): they hold no slot."""
        for outcome in outcomes:
            self._queue.put((outcome, False))

    def sent(self, outcome: outbox.Outcome) -> None:
        """The outcome of a send that holds a slot; the slot is freed once it is written."""
        self._queue.put((outcome, True))

    def _run(self) -> None:
        with self.app.app_context():
            while True:
                entries = [self._queue.get()]
                with suppress(queue.Empty):
                    while True:
                        entries.append(self._queue.get_nowait())
                stopping = None in entries
                entries = [entry for entry in entries if entry is not None]
                if entries:
                    self._write(entries)
                if stopping:
                    return

    def _write(self, entries: list[tuple[outbox.Outcome, bool]]) -> None:
        outcomes = [outcome for outcome, _ in entries]
        try:
            outbox.finish_many(outcomes)
            heartbeat.count_sends(outcomes)  # retainful_sends_total: written with the next heartbeat, for /metrics
            self.counts.update(outcome.label for outcome in outcomes)
        except Exception:
            log.exception("dispatch: %d outcomes could not be recorded; their leases will expire and they are "
                          "retried", len(outcomes))
            db.session.rollback()
            self.counts["error"] += len(outcomes)
        finally:
            db.session.remove()
            self.unrecorded.discard([outcome.message_id for outcome in outcomes])
            for _, holds_slot in entries:
                if holds_slot:
                    self.slots.release()


class Dispatcher:
    """Claims batches, prepares each in one session (load, policy, render), sends from a thread pool, and records
    the outcomes in bulk (:class:`Recorder`).

    Only the provider calls run in the pool: the database work of a batch costs a few statements, not a few per
    message, and the GIL is left to the sends.
    """

    def __init__(self, app: Flask, providers: Providers | None = None):
        self.app = app
        self.providers = providers or providers_for(app)
        self.urls = public_urls(app)
        config = app.config
        self.batch_size = config["DISPATCH_BATCH_SIZE"]
        self.concurrency = config["DISPATCH_CONCURRENCY"]
        self.lease = timedelta(seconds=config["DISPATCH_LEASE_SECONDS"])
        self.max_attempts = config["DISPATCH_MAX_ATTEMPTS"]
        self.reply_domain, self.secret_key = config.get("REPLY_DOMAIN", ""), config["SECRET_KEY"]
        self.too_expensive: set[tuple[int, str, str]] = set()  # this run's (store, channel, key) past the budget
        self.disabled = {medium.name for medium in CHANNELS.values()  # production without the channel's credentials
                         if medium.provider(self.providers).name == DISABLED}

    def run_due(self, stop: threading.Event = shutdown.requested) -> Counter:
        """Send everything that is due now, keeping ``concurrency`` sends in flight. Returns outcome counts.

        A claimed batch is prepared ``concurrency`` messages at a time, so the first sends start while the rest of
        the batch is still being rendered, and the pool never waits for a whole batch.

        Once ``stop`` is set (SIGTERM) nothing more is claimed or prepared: the sends already under way finish and
        are recorded, and the claimed messages not yet sent are released to the queue for another worker.
        """
        with self.app.app_context():
            outbox.reclaim_expired_leases()
        self.too_expensive.clear()
        in_flight: dict[Future, Ready] = {}
        claimed: deque[tuple[str, list[int]]] = deque()
        unrecorded = Unrecorded()
        drained = False
        with Recorder(self.app, self.concurrency, unrecorded) as recorder, \
                ThreadPoolExecutor(self.concurrency, thread_name_prefix="dispatch") as pool:
            while (claimed or not drained) and not stop.is_set():
                if len(in_flight) >= self.concurrency * 2:  # enough queued: prepare more once some are sent
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in done:
                        del in_flight[future]
                elif claimed:
                    ready, decided = self._prepare(*claimed.popleft(), unrecorded)
                    recorder.decided(decided)
                    in_flight.update((pool.submit(self._send, item, recorder), item) for item in ready)
                else:
                    batch = self._claim()
                    drained = batch is None or len(batch[1]) < self.batch_size
                    if batch:
                        owner, ids = batch
                        claimed.extend((owner, ids[i:i + self.concurrency])
                                       for i in range(0, len(ids), self.concurrency))
            if stop.is_set():  # queued sends not started yet are not sent: they go back with the unprepared
                claimed.extend((item.owner, [item.message_id]) for future, item in in_flight.items()
                               if future.cancel())
            wait(in_flight)
        if claimed:
            self._release(list(claimed))
        if recorder.counts:
            log.info("dispatch: %s", dict(recorder.counts))
        return recorder.counts

    def _release(self, claims: list[tuple[str, list[int]]]) -> None:
        """Back to the queue; if the database cannot take it now, the leases expire as after a crash."""
        with self.app.app_context():
            try:
                released = outbox.release(claims)
            except SQLAlchemyError:
                log.exception("dispatch: claimed messages could not be released; their leases will expire")
                db.session.rollback()
                return
            finally:
                db.session.remove()
        if released:
            log.info("dispatch: shutting down, %d claimed messages released unsent", released)

    def _claim(self) -> tuple[str, list[int]] | None:
        """The next batch; None when the database is unreachable (finish what is in flight, try next round)."""
        with self.app.app_context():
            try:
                return outbox.claim(self.batch_size, self.lease)
            except SQLAlchemyError:
                log.exception("dispatch: could not claim messages; finishing the sends in flight")
                db.session.rollback()
                return None
            finally:
                db.session.remove()

    def _prepare(self, owner: str, ids: list[int], unrecorded: Unrecorded) -> tuple[list[Ready], list[outbox.Outcome]]:
        """Policy and rendering for claimed messages in one session. Link codes and recovery coupons are committed
        before anything is sent, so every link in a sent message works. A batch that fails here is left to its
        lease: it expires and the messages are claimed again."""
        with self.app.app_context():
            try:
                return self._prepare_batch(owner, ids, unrecorded)
            except Exception:
                log.exception("dispatch: %d messages could not be prepared; their lease will expire and they are "
                              "retried", len(ids))
                db.session.rollback()
                return [], []
            finally:
                db.session.remove()

    def _prepare_batch(self, owner: str, ids: list[int], unrecorded: Unrecorded
                       ) -> tuple[list[Ready], list[outbox.Outcome]]:
        messages = outbox.load_claimed(owner, ids)
        stores = {store_id: db.session.get(Store, store_id) for store_id in {m.store_id for m in messages}}
        overrides = {store_id: current_sources(store_id) for store_id in stores}
        running = experiments.running_by_subject(stores)
        now = clock.now()
        history = policy.History.load(messages, stores, now, pending=unrecorded.snapshot())
        ready, decided = [], []
        for message in messages:
            store = stores[message.store_id]
            decision = (policy.skip("channel_disabled") if message.channel in self.disabled
                        else policy.decide(message, store, message.cart, message.customer, now, history))
            if decision.action == "skip":
                decided.append(outbox.Outcome(message.id, owner, f"skipped:{decision.reason}",
                                              {"status": MessageStatus.SKIPPED, "skip_reason": decision.reason}))
            elif decision.action == "defer":
                decided.append(outbox.Outcome(message.id, owner, f"deferred:{decision.reason}",
                                              {"status": MessageStatus.SCHEDULED, "due_at": decision.until}))
            else:
                try:
                    item = self._render(message, store, owner, overrides[store.id], running)
                except SQLAlchemyError:
                    raise
                except Exception as error:  # a bug must not hold back the rest of the batch, nor retry forever
                    log.exception("dispatch: message %s could not be prepared", message.id)
                    item = outbox.Outcome(message.id, owner, "failed", {
                        "status": MessageStatus.FAILED, "error": f"internal: {type(error).__name__}: {error}"[:1000]})
                if isinstance(item, Ready):
                    send = policy.Send(message.customer_id, message.channel, message.cart_id, now, message.kind)
                    history.note(send)
                    unrecorded.add(message.id, send)
                    ready.append(item)
                else:
                    decided.append(item)
        db.session.commit()
        return ready, decided

    def _render(self, message: Message, store: Store, owner: str, overrides, running) -> Ready | outbox.Outcome:
        """A template that blew its render budget fails its message; the rest of this run's messages with the same
        template wait a minute instead of each spending a budget, so one store's poisoned template costs every run
        one budget, not one per message. The one place a running experiment's variant replaces the step's
        template; the message records which variant it was."""
        key = template_key(message)
        variant = experiments.variant_for(running, message)
        message.variant_id = variant.id if variant is not None else None
        template = (store.id, message.channel, key, message.variant_id)
        if template in self.too_expensive:
            return outbox.Outcome(message.id, owner, "deferred:template_budget",
                                  {"status": MessageStatus.SCHEDULED, "due_at": clock.now() + BACKOFF_BASE})
        customer = message.customer
        if message.link_code is None:
            message.link_code = tracking.new_link_code()
        automation = registry.get(message.kind)
        if message.coupon is None and automation is not None:
            message.coupon = automation.coupon_for(message, store)
        try:
            rendered = render_message(message, store, message.cart, customer, overrides=overrides, urls=self.urls,
                                      variant_source=experiments.variant_source(variant, message.channel, overrides),
                                      coupon=coupon_vars(message.coupon, customer.locale or store.locale),
                                      extra=automation.template_vars(message, store) if automation else None)
        except TemplateError as error:
            if isinstance(error, TemplateTooExpensive):
                self.too_expensive.add(template)
            return outbox.Outcome(message.id, owner, "failed",
                                  {"status": MessageStatus.FAILED, "error": f"template: {error.reason}"})
        medium = channel(message.channel)
        recipient = medium.address(customer)
        outgoing = medium.envelope(message_id=message.id, store=store, recipient=recipient,
                                   to_name=customer.first_name, rendering=rendered,
                                   unsubscribe_url=rendered.unsubscribe_url, categories=(message.kind,),
                                   reply_to=reply_address(self.secret_key, self.reply_domain, customer.id))
        provider = medium.provider(self.providers)
        attempts = message.attempts + 1
        content = dict(recipient=recipient, subject=rendered.subject, body_text=rendered.text,
                       body_html=rendered.html, provider=provider.name, attempts=attempts)
        recovery_cart_id = message.cart_id if automation and automation.counts_as_recovered else None
        return Ready(message.id, owner, attempts, provider, outgoing, content, recovery_cart_id, medium)

    def _send(self, item: Ready, recorder: Recorder) -> None:
        """The provider call, in a pool thread, holding a recorder slot until its outcome is written."""
        recorder.slots.acquire()
        with logs.context(message_id=item.message_id):
            recorder.sent(self._call_provider(item))

    def _call_provider(self, item: Ready) -> outbox.Outcome:
        """Every failure becomes an outcome, never an exception."""
        try:
            result = item.channel.send(item.provider, item.outgoing)
        except ProviderError as error:
            return self._failure(item, error)
        except Exception as error:  # a provider bug must not stop the run; the message is failed with the reason
            log.exception("dispatch: message %s: unexpected error from %s", item.message_id, item.provider.name)
            return self._failure(item, ProviderError(f"{type(error).__name__}: {error}", transient=False))
        return outbox.Outcome(item.message_id, item.owner, "sent", {
            "status": MessageStatus.SENT, "sent_at": clock.now(), "error": None,
            "provider_message_id": result.provider_message_id, **item.content}, item.recovery_cart_id)

    def _failure(self, item: Ready, error: ProviderError) -> outbox.Outcome:
        reason = error.reason[:1000]
        if error.transient and item.attempts < self.max_attempts:
            due = clock.now() + backoff(item.attempts, error.retry_after)
            log.warning("message %s: transient provider error, retry at %s: %s", item.message_id, due, reason)
            return outbox.Outcome(item.message_id, item.owner, "retry", {
                "status": MessageStatus.SCHEDULED, "due_at": due, "error": reason, **item.content})
        log.warning("message %s failed: %s", item.message_id, reason)
        return outbox.Outcome(item.message_id, item.owner, "failed",
                              {"status": MessageStatus.FAILED, "error": reason, **item.content})


def dispatch_due() -> Counter:
    """The dispatch job: everything due, now."""
    return Dispatcher(current_app._get_current_object()).run_due()
