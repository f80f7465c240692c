"""The scheduled jobs and their APScheduler wiring. The database is the queue: jobs are short and idempotent."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.base import BaseScheduler
from flask import Flask, current_app

from retainful import automations, carts, clock, experiments, heartbeat, shutdown
from retainful.campaigns.sending import expand_due as expand_campaigns
from retainful.conversations.webhook import deliver_due as deliver_conversation_webhooks
from retainful.coupons.woo_sync import sync_due_coupons
from retainful.extensions import db
from retainful.messaging import wakeup
from retainful.messaging.dispatch import dispatch_due
from retainful.messaging.webhooks.vonage import record_expired_parts
from retainful.orders.woocommerce import pull_all_orders
from retainful.plugin.history import import_due_history
from retainful.urls import public_urls

log = logging.getLogger(__name__)

def evaluate_experiments() -> dict[str, int]:
    return experiments.evaluate_running(public_urls(current_app))


JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}


@dataclass(frozen=True)
class Job:
    id: str
    every_seconds: int
    run: Callable[[], object]
    description: str


JOBS = (
    Job("abandon_sweep", 30, carts.sweep_abandoned,
        "live carts past their store's cut-off become abandoned and their messages are planned"),
    Job("dispatch", 5, dispatch_due, "due messages are claimed, checked against the send policy and sent"),
    Job("close_sweep", 300, carts.close_lost, "abandoned carts past their last step and grace become lost"),
    Job("purge", 3600, carts.purge_expired, "carts and personal data past the store's retention are deleted"),
    Job("coupon_sync", 60, sync_due_coupons, "pending coupons are created in the store's WooCommerce shop"),
    Job("woo_order_pull", 300, pull_all_orders,
        "orders modified in connected WooCommerce shops are pulled, covering webhooks that never arrived"),
    Job("plugin_history", 300, import_due_history,
        "past orders of shops the Retainful plugin connected are imported for the before/after report (daily)"),
    Job("automations", 300, automations.plan_due,
        "scanning automations (win-back) plan the messages of the customers now due, in bounded batches"),
    Job("campaigns", 10, expand_campaigns,
        "due campaigns' recipients are enqueued in the outbox a batch at a time, paced; finished ones marked sent"),
    Job("conversation_webhooks", 10, deliver_conversation_webhooks,
        "new inbound messages are POSTed, signed, to the stores' helpdesk webhooks; failures retried with backoff"),
    Job("inbound_sms_parts", 3600, record_expired_parts,
        "long inbound texts still missing parts after a day are recorded in their conversations with what came"),
    Job("experiments", 300, evaluate_experiments,
        "running A/B experiments are read by the sequential rule; a winner is recorded and, if the store chose, "
        "applied"),
    Job("fold_workers", 3600, heartbeat.fold_retired,
        "the bookkeeping rows of worker processes gone for a day are summed into one set (totals unchanged)"),
)


def run_job(app: Flask, job: Job) -> object:
    """Run one job in its own app context; a failure is logged and rolled back, never left half-done. Its duration and
    outcome are recorded for /metrics and ``retainful status``, with a heartbeat of this worker."""
    started_at, started = clock.now(), time.perf_counter()
    error = None
    with app.app_context():
        try:
            return job.run()
        except Exception as failure:
            error = failure
            db.session.rollback()
            log.exception("job %s failed", job.id)
            raise
        finally:
            db.session.remove()
            heartbeat.job_finished(job.id, started_at, time.perf_counter() - started, error)
            db.session.remove()


def _beat(app: Flask) -> None:
    with app.app_context():
        try:
            heartbeat.beat()
        finally:
            db.session.remove()


def run_all_once(app: Flask) -> dict[str, object]:
    """Every job once, in order (``retainful worker --once``); after a shutdown request, no further job starts."""
    return {job.id: run_job(app, job) for job in JOBS if not shutdown.requested.is_set()}


DISPATCH = next(job for job in JOBS if job.id == "dispatch")


def dispatch_forever(app: Flask, stop: threading.Event = shutdown.requested) -> None:
    """The dispatch job, run again as soon as the outbox may have work (``messaging.wakeup``: the next due time, a
    NOTIFY on PostgreSQL, at the latest its interval as a safety net) until ``stop``. Long-running processes use
    this instead of an interval job, so a message falling due is sent within a round, not within 5 s."""
    with app.app_context():
        waiter = wakeup.waiter(app, DISPATCH.every_seconds)
    try:
        while not stop.is_set():
            try:
                run_job(app, DISPATCH)
            except Exception:  # logged and rolled back by run_job; the next round retries
                stop.wait(1.0)
            waiter.wait(stop)
    finally:
        waiter.close()


def _on_event(event: JobEvent) -> None:
    if event.code == EVENT_JOB_MAX_INSTANCES:
        log.warning("job %s still running; this run was skipped", event.job_id)
    elif event.code == EVENT_JOB_MISSED:
        log.warning("job %s missed its run time", event.job_id)


def configure(scheduler: BaseScheduler, app: Flask) -> BaseScheduler:
    """Add every periodic job to ``scheduler``; dispatch is not one of them (:func:`dispatch_forever` runs it)."""
    scheduler.configure(job_defaults=JOB_DEFAULTS, timezone="UTC")
    for job in JOBS:
        if job is DISPATCH:
            continue
        scheduler.add_job(run_job, "interval", seconds=job.every_seconds, args=[app, job], id=job.id,
                          name=job.description, replace_existing=True)
    _beat(app)  # a worker is ready from its start, not from its first job
    scheduler.add_job(_beat, "interval", seconds=heartbeat.BEAT_SECONDS, args=[app], id="heartbeat",
                      name="this worker records that it is alive", replace_existing=True)
    scheduler.add_listener(_on_event, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
    return scheduler
