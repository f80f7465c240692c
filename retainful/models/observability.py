"""What the worker processes tell the rest of the service: that they are alive, how their jobs went, what they sent.

Rows are keyed by the worker process, so each process only ever updates its own rows (no lock contention between
workers) and the totals are sums over processes. The web processes read them at scrape time for /metrics, /readyz
and ``retainful status``: a worker in another container needs no shared files and no port of its own.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from retainful.extensions import db
from retainful.models.types import UTCDateTime


class WorkerHeartbeat(db.Model):
    __tablename__ = "worker_heartbeat"

    worker_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    hostname: Mapped[str] = mapped_column(sa.String(255))
    pid: Mapped[int] = mapped_column()
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class JobRun(db.Model):
    """A job's last run in one worker process, and the cumulative counts behind its duration histogram."""

    __tablename__ = "job_run"

    worker_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    job_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_seconds: Mapped[float] = mapped_column(sa.Float)
    outcome: Mapped[str] = mapped_column(sa.String(16))  # "ok" or "failed"
    error: Mapped[str | None] = mapped_column(sa.String(200))  # the exception's class only: its text may hold data
    runs: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    failures: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    duration_sum: Mapped[float] = mapped_column(sa.Float, default=0.0)
    buckets: Mapped[list] = mapped_column(sa.JSON)  # runs per duration bucket (heartbeat.JOB_BUCKETS, then +Inf)


class SendTally(db.Model):
    """Outcomes the dispatcher recorded, counted per worker process: ``retainful_sends_total``."""

    __tablename__ = "send_tally"

    worker_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    outcome: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    count: Mapped[int] = mapped_column(sa.BigInteger, default=0)
