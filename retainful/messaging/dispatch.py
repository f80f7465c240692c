"""The sending pipeline: claim due messages, re-check the policy, render, send concurrently, record.

It lives apart from the domain (listmonk's manager): planning decides *what* should go out, this decides *whether*
it still should, right now, and makes it happen once.
"""
from __future__ import annotations

import logging
import random
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, current_app
from sqlalchemy.exc import SQLAlchemyError

from retainful import clock
from retainful.extensions import db
from retainful.coupons import discount_text, recovery_coupon_for
from retainful.messaging import outbox, policy, tracking
from retainful.messaging.providers import (
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


def coupon_vars(coupon, customer) -> dict | None:
    """What a template may show of a coupon."""
    if coupon is None:
        return None
    return {"code": coupon.code, "discount": discount_text(coupon, customer.locale or "en_US"),
            "expires_at": coupon.expires_at}


class Dispatcher:
    def __init__(self, app: Flask, providers: Providers | None = None):
        self.app = app
        self.providers = providers or providers_for(app)
        config = app.config
        self.batch_size = config["DISPATCH_BATCH_SIZE"]
        self.concurrency = config["DISPATCH_CONCURRENCY"]
        self.lease = timedelta(seconds=config["DISPATCH_LEASE_SECONDS"])
        self.max_attempts = config["DISPATCH_MAX_ATTEMPTS"]

    def run_due(self) -> Counter:
        """Send everything that is due now, keeping ``concurrency`` sends in flight. Returns outcome counts."""
        with self.app.app_context():
            outbox.reclaim_expired_leases()
        outcomes: Counter = Counter()
        in_flight: set[Future] = set()
        drained = False
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="dispatch") as pool:
            while True:
                if not drained and len(in_flight) < self.concurrency * 2:
                    owner, ids = self._claim()
                    drained = ids is None or len(ids) < self.batch_size
                    ids = ids or []
                    in_flight |= {pool.submit(self.process, message_id, owner) for message_id in ids}
                if not in_flight:
                    break
                done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                outcomes.update(future.result() for future in done)
        if outcomes:
            log.info("dispatch: %s", dict(outcomes))
        return outcomes

    def _claim(self) -> tuple[str | None, list[int] | None]:
        """The next batch; None when the database is unreachable (finish what is in flight, try next round)."""
        with self.app.app_context():
            try:
                return outbox.claim(self.batch_size, self.lease)
            except SQLAlchemyError:
                log.exception("dispatch: could not claim messages; finishing the sends in flight")
                db.session.rollback()
                return None, None
            finally:
                db.session.remove()

    def process(self, message_id: int, owner: str) -> str:
        """One claimed message, start to finish, in its own app context and session."""
        with self.app.app_context():
            try:
                return self._process(message_id, owner)
            except Exception:
                log.exception("dispatch: message %s failed unexpectedly; its lease will expire and it is retried",
                              message_id)
                db.session.rollback()
                return "error"
            finally:
                db.session.remove()

    def _process(self, message_id: int, owner: str) -> str:
        message = db.session.get(Message, message_id)
        if message is None or message.lease_owner != owner or message.status != MessageStatus.SENDING:
            return "lost_lease"
        store = db.session.get(Store, message.store_id)
        now = clock.now()
        decision = policy.decide(message, store, message.cart, message.customer, now)
        if decision.action == "skip":
            outbox.finish(message_id, owner, status=MessageStatus.SKIPPED, skip_reason=decision.reason)
            return f"skipped:{decision.reason}"
        if decision.action == "defer":
            outbox.finish(message_id, owner, status=MessageStatus.SCHEDULED, due_at=decision.until)
            return f"deferred:{decision.reason}"
        customer = message.customer
        if message.link_code is None:
            message.link_code = tracking.new_link_code()
        if message.coupon is None and message.cart is not None:
            message.coupon = recovery_coupon_for(message.cart, message.step, customer, store)
        try:
            rendered = render_message(message, store, message.cart, customer,
                                      recovery_link=tracking.short_link(message.link_code),
                                      open_pixel=tracking.pixel_link(message.link_code),
                                      coupon=coupon_vars(message.coupon, customer))
        except TemplateError as error:
            db.session.commit()
            outbox.finish(message_id, owner, status=MessageStatus.FAILED, error=f"template: {error.message}")
            return "failed"
        if message.channel == "email":
            recipient = customer.email
            outgoing = OutgoingEmail(
                message_id=message.id, to_email=recipient, to_name=customer.first_name, from_email=store.from_email,
                from_name=store.from_name, subject=rendered.subject, html=rendered.html, text=rendered.text,
                unsubscribe_url=rendered.unsubscribe_url, categories=(message.kind,))
            provider = self.providers.email
            send = lambda: provider.send_email(outgoing)  # noqa: E731
        else:
            recipient = customer.phone
            outgoing = OutgoingSms(message_id=message.id, to=recipient, sender=store.sms_from, text=rendered.text)
            provider = self.providers.sms
            send = lambda: provider.send_sms(outgoing)  # noqa: E731
        attempts = message.attempts + 1
        db.session.commit()  # release the connection while the provider is called
        content = dict(recipient=recipient, subject=rendered.subject, body_text=rendered.text,
                       body_html=rendered.html, provider=provider.name, attempts=attempts)
        try:
            result = send()
        except ProviderError as error:
            return self._record_failure(message_id, owner, error, attempts, content)
        outbox.finish(message_id, owner, status=MessageStatus.SENT, sent_at=clock.now(), error=None,
                      provider_message_id=result.provider_message_id, **content)
        return "sent"

    def _record_failure(self, message_id: int, owner: str, error: ProviderError, attempts: int, content) -> str:
        reason = error.reason[:1000]
        if error.transient and attempts < self.max_attempts:
            due = clock.now() + backoff(attempts, error.retry_after)
            outbox.finish(message_id, owner, status=MessageStatus.SCHEDULED, due_at=due, error=reason, **content)
            log.warning("message %s: transient provider error, retry at %s: %s", message_id, due, reason)
            return "retry"
        outbox.finish(message_id, owner, status=MessageStatus.FAILED, error=reason, **content)
        log.warning("message %s failed: %s", message_id, reason)
        return "failed"


def dispatch_due() -> Counter:
    """The dispatch job: everything due, now."""
    return Dispatcher(current_app._get_current_object()).run_due()
