"""The service's state as an operator reads it: queue depth, due lag, workers, jobs and send totals.

One set of queries serves ``retainful status``, /metrics and /readyz. Each is cheap on a large outbox: the queue is
counted only in its pending statuses (``ix_message_status_due`` finds those rows; sent, skipped and failed rows,
the bulk of the table, are never scanned: their totals are ``retainful_sends_total``), the due lag is one index
lookup, and the bookkeeping tables hold a few rows per worker process.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from retainful import clock
from retainful.extensions import db
from retainful.models import JobRun, Message, MessageStatus, SendTally, WorkerHeartbeat

WORKER_STALE_SECONDS = 60  # /readyz: a worker heartbeat older than this means no worker is running
WORKERS_SHOWN = timedelta(days=1)  # heartbeats of processes gone longer than this are history, not workers


def queue_depth() -> dict[str, dict[str, int]]:
    """Pending messages by status and channel: {"scheduled": {"email": 3}, "sending": {}}."""
    depth: dict[str, dict[str, int]] = {status: {} for status in MessageStatus.PENDING}
    rows = db.session.execute(
        sa.select(Message.status, Message.channel, sa.func.count())
        .where(Message.status.in_(MessageStatus.PENDING)).group_by(Message.status, Message.channel))
    for status, channel, count in rows:
        depth[status][channel] = count
    return depth


def due_lag_seconds(now: datetime | None = None) -> float:
    """How long the oldest due message has waited (0 when nothing is due): the worker's backlog in time."""
    now = now or clock.now()
    oldest = db.session.scalar(sa.select(sa.func.min(Message.due_at)).where(
        Message.status == MessageStatus.SCHEDULED, Message.due_at <= now))
    if oldest is None:
        return 0.0
    return max(0.0, (now - oldest).total_seconds())


@dataclass(frozen=True)
class Worker:
    worker_id: str
    hostname: str
    pid: int
    started_at: datetime
    seen_at: datetime
    age_seconds: float


def workers(now: datetime | None = None) -> list[Worker]:
    """Worker processes seen in the last day, freshest first."""
    now = now or clock.now()
    rows = db.session.scalars(sa.select(WorkerHeartbeat).where(WorkerHeartbeat.seen_at >= now - WORKERS_SHOWN)
                              .order_by(WorkerHeartbeat.seen_at.desc()))
    return [Worker(row.worker_id, row.hostname, row.pid, row.started_at, row.seen_at,
                   max(0.0, (now - row.seen_at).total_seconds())) for row in rows]


def freshest_heartbeat_age(now: datetime | None = None) -> float | None:
    """Seconds since any worker last recorded a heartbeat; None if none ever did."""
    now = now or clock.now()
    seen = db.session.scalar(sa.select(sa.func.max(WorkerHeartbeat.seen_at)))
    if seen is None:
        return None
    return max(0.0, (now - seen).total_seconds())


def job_runs() -> list[JobRun]:
    """Every (worker, job) row; callers pick the latest per job or sum them."""
    return list(db.session.scalars(sa.select(JobRun).order_by(JobRun.job_id, JobRun.finished_at.desc())))


def last_job_runs() -> list[JobRun]:
    """Each job's latest run, whichever worker ran it."""
    latest: dict[str, JobRun] = {}
    for run in job_runs():
        latest.setdefault(run.job_id, run)
    return list(latest.values())


def send_totals() -> dict[tuple[str, str, str], int]:
    """{(channel, provider, outcome): count} over every worker process there ever was."""
    return {(channel, provider, outcome): int(count) for channel, provider, outcome, count in db.session.execute(
        sa.select(SendTally.channel, SendTally.provider, SendTally.outcome, sa.func.sum(SendTally.count))
        .group_by(SendTally.channel, SendTally.provider, SendTally.outcome))}


def snapshot() -> dict:
    """Everything ``retainful status --json`` prints."""
    now = clock.now()
    return {
        "queue": queue_depth(),
        "due_lag_seconds": round(due_lag_seconds(now), 3),
        "workers": [{"worker_id": w.worker_id, "hostname": w.hostname, "pid": w.pid,
                     "started_at": w.started_at.isoformat(), "last_heartbeat": w.seen_at.isoformat(),
                     "age_seconds": round(w.age_seconds, 1)} for w in workers(now)],
        "jobs": [{"job": run.job_id, "last_started_at": run.started_at.isoformat(),
                  "last_finished_at": run.finished_at.isoformat(), "duration_seconds": round(run.duration_seconds, 3),
                  "outcome": run.outcome, "error": run.error, "worker_id": run.worker_id, "runs": run.runs,
                  "failures": run.failures} for run in last_job_runs()],
    }
