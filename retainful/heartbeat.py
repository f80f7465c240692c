"""Worker heartbeats, job runs and send tallies, written by the process that runs the jobs.

Every worker process (``retainful worker``, ``--once`` included, and ``retainful serve``'s scheduler) records a
heartbeat when it starts, after job runs and every ``BEAT_SECONDS``; each job's runs update that job's row; the
dispatch outcomes recorded since the last such write are added to the process's send tallies with it. All of it is
bookkeeping: a failure to write it is logged and never fails the job or the send it describes.
"""
from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from retainful import clock
from retainful.database import error_summary
from retainful.extensions import db
from retainful.models import JobRun, Message, SendTally, WorkerHeartbeat

log = logging.getLogger(__name__)

BEAT_SECONDS = 15
JOB_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0)  # seconds; a last bucket (+Inf) follows
JOB_WRITE_SECONDS = 5.0  # a job that runs more often is written at most this often (and with every heartbeat)
SEND_LOOKUP_CHUNK = 1000  # message ids per channel lookup
NO_PROVIDER = "none"  # outcomes settled before any provider call: skips, deferrals, broken templates

_identity: tuple[int, str] | None = None


def worker_id() -> str:
    """This process's id: host, pid and a random part (a pid is reused after a restart). A forked child gets its own."""
    global _identity
    if _identity is None or _identity[0] != os.getpid():
        _identity = (os.getpid(), f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(4)}")
    return _identity[1]


def _insert(table: sa.Table):
    return (postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert)(table)


def _beat_statement(now: datetime):
    table = WorkerHeartbeat.__table__
    statement = _insert(table).values(worker_id=worker_id(), hostname=socket.gethostname()[:255], pid=os.getpid(),
                                      started_at=now, seen_at=now)
    return statement.on_conflict_do_update(index_elements=[table.c.worker_id], set_={"seen_at": now})


def _bookkeeping(what: str, write) -> None:
    """Run ``write`` and commit; log a failure instead of raising it."""
    try:
        write()
        db.session.commit()
    except Exception as error:
        db.session.rollback()
        log.warning("%s not recorded: %s", what, error_summary(error))


def beat() -> None:
    """Record that this worker process is alive, with the job runs and send outcomes counted since the last write
    (needs an app context)."""
    def write():
        db.session.execute(_beat_statement(clock.now()))
        _write_runs()
        _write_sends()

    _bookkeeping("worker heartbeat", write)


def bucket_of(duration: float) -> int:
    return next((i for i, bound in enumerate(JOB_BUCKETS) if duration <= bound), len(JOB_BUCKETS))


class _PendingRuns:
    """Job runs not yet written, summed per job. A job is written at once when it failed or was last written
    ``JOB_WRITE_SECONDS`` ago, else with the next heartbeat: the dispatch loop runs a round per wake-up (many a
    second under load), and one database write per round would cost more than its sends."""

    def __init__(self):
        self.lock = threading.Lock()
        self.runs: dict[str, dict] = {}
        self.written: dict[str, float] = {}  # job id -> time.monotonic() of its last write

    def add(self, job_id: str, started_at: datetime, finished_at: datetime, duration: float,
            error: BaseException | None) -> bool:
        """Count a run; True if the job is due to be written now."""
        with self.lock:
            run = self.runs.setdefault(job_id, {"runs": 0, "failures": 0, "duration_sum": 0.0,
                                                "buckets": [0] * (len(JOB_BUCKETS) + 1)})
            run.update(started_at=started_at, finished_at=finished_at, duration=duration,
                       outcome="ok" if error is None else "failed",
                       error=None if error is None else type(error).__name__[:200])
            run["runs"] += 1
            run["failures"] += error is not None
            run["duration_sum"] += duration
            run["buckets"][bucket_of(duration)] += 1
            last = self.written.get(job_id)
            return error is not None or last is None or time.monotonic() - last >= JOB_WRITE_SECONDS

    def take(self) -> dict[str, dict]:
        with self.lock:
            taken, self.runs = self.runs, {}
            now = time.monotonic()
            self.written.update({job_id: now for job_id in taken})
        return taken


def _pending_runs() -> _PendingRuns:
    return current_app.extensions.setdefault("retainful.pending_runs", _PendingRuns())


def _write_runs() -> None:
    for job_id, pending in _pending_runs().take().items():
        run = db.session.get(JobRun, (worker_id(), job_id))
        if run is None:
            run = JobRun(worker_id=worker_id(), job_id=job_id, runs=0, failures=0, duration_sum=0.0,
                         buckets=[0] * (len(JOB_BUCKETS) + 1))
            db.session.add(run)
        run.started_at, run.finished_at = pending["started_at"], pending["finished_at"]
        run.duration_seconds, run.outcome, run.error = pending["duration"], pending["outcome"], pending["error"]
        run.runs, run.failures = run.runs + pending["runs"], run.failures + pending["failures"]
        run.duration_sum = run.duration_sum + pending["duration_sum"]
        run.buckets = [a + b for a, b in zip(run.buckets, pending["buckets"])]


def job_finished(job_id: str, started_at: datetime, duration: float, error: BaseException | None) -> None:
    """Count a job's run (its outcome, duration and the exception's class, never its text); written with a heartbeat
    now if it failed or the job was not written for ``JOB_WRITE_SECONDS``, else with the next heartbeat."""
    if _pending_runs().add(job_id, started_at, clock.now(), duration, error):
        beat()


class _PendingSends:
    """Outcomes the recorder handed over, kept in memory until the next heartbeat or job run writes them: one write
    per 15 s or per dispatch run rather than one per outcome batch (a crash loses at most those seconds' counts)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.outcomes: list[tuple[int, str, str]] = []  # (message id, provider, outcome)

    def take(self) -> list[tuple[int, str, str]]:
        with self.lock:
            taken, self.outcomes = self.outcomes, []
        return taken


def _pending() -> _PendingSends:
    return current_app.extensions.setdefault("retainful.pending_sends", _PendingSends())


def count_sends(outcomes: Iterable) -> None:
    """Count dispatch outcomes (``outbox.Outcome``) by provider and outcome; written with the next heartbeat."""
    pending = _pending()
    with pending.lock:
        pending.outcomes.extend((o.message_id, o.values.get("provider") or NO_PROVIDER, o.label.split(":")[0])
                                for o in outcomes)


def _write_sends() -> None:
    """Add the pending outcomes to this process's tallies by channel (read from the outbox), provider and outcome."""
    taken = _pending().take()
    channels: dict[int, str] = {}
    for start in range(0, len(taken), SEND_LOOKUP_CHUNK):
        ids = [message_id for message_id, _, _ in taken[start:start + SEND_LOOKUP_CHUNK]]
        channels.update(db.session.execute(sa.select(Message.id, Message.channel).where(Message.id.in_(ids))).all())
    tally = Counter((channels[message_id], provider, outcome) for message_id, provider, outcome in taken
                    if message_id in channels)
    if not tally:
        return
    table = SendTally.__table__
    statement = _insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.worker_id, table.c.channel, table.c.provider, table.c.outcome],
        set_={"count": table.c.count + statement.excluded.count})
    db.session.execute(statement, [{"worker_id": worker_id(), "channel": channel, "provider": provider[:16],
                                    "outcome": outcome[:16], "count": count}
                                   for (channel, provider, outcome), count in tally.items()])


RETIRED = "retired"  # the worker id under which the rows of processes gone for good are summed
RETIRE_AFTER = timedelta(days=1)
RETIRE_BATCH = 500


def fold_retired() -> dict[str, int]:
    """Sum the bookkeeping rows of worker processes unseen for ``RETIRE_AFTER`` into the ``retired`` rows and delete
    theirs: totals stay the same (counters never go back), and the tables stay a few rows per live worker even when
    cron starts a ``worker --once`` every minute. The gone workers' heartbeat rows are locked first (PostgreSQL:
    SKIP LOCKED; SQLite: the write lock), so two workers folding at once never count a row twice."""
    query = (sa.select(WorkerHeartbeat.worker_id).where(WorkerHeartbeat.seen_at < clock.now() - RETIRE_AFTER)
             .order_by(WorkerHeartbeat.seen_at).limit(RETIRE_BATCH))
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    gone = list(db.session.scalars(query))
    if not gone:
        db.session.rollback()
        return {"folded": 0}
    _fold_tallies(gone)
    _fold_job_runs(gone)
    db.session.execute(sa.delete(WorkerHeartbeat).where(WorkerHeartbeat.worker_id.in_(gone)))
    db.session.commit()
    return {"folded": len(gone)}


def _fold_tallies(gone: list[str]) -> None:
    tally = SendTally.__table__
    sums = db.session.execute(
        sa.select(tally.c.channel, tally.c.provider, tally.c.outcome, sa.func.sum(tally.c.count))
        .where(tally.c.worker_id.in_(gone)).group_by(tally.c.channel, tally.c.provider, tally.c.outcome)).all()
    if sums:
        statement = _insert(tally)
        statement = statement.on_conflict_do_update(
            index_elements=[tally.c.worker_id, tally.c.channel, tally.c.provider, tally.c.outcome],
            set_={"count": tally.c.count + statement.excluded.count})
        db.session.execute(statement, [{"worker_id": RETIRED, "channel": channel, "provider": provider,
                                        "outcome": outcome, "count": int(count)}
                                       for channel, provider, outcome, count in sums])
    db.session.execute(sa.delete(tally).where(tally.c.worker_id.in_(gone)))


def _fold_job_runs(gone: list[str]) -> None:
    retired = {run.job_id: run for run in db.session.scalars(sa.select(JobRun).where(JobRun.worker_id == RETIRED))}
    runs = db.session.scalars(sa.select(JobRun).where(JobRun.worker_id.in_(gone)).order_by(JobRun.finished_at))
    for run in list(runs):
        into = retired.get(run.job_id)
        if into is None:
            into = retired[run.job_id] = JobRun(
                worker_id=RETIRED, job_id=run.job_id, runs=0, failures=0, duration_sum=0.0,
                buckets=[0] * (len(JOB_BUCKETS) + 1), finished_at=run.finished_at)
            db.session.add(into)
        if run.finished_at >= into.finished_at:  # the latest run of the folded workers stays the "last run"
            into.started_at, into.finished_at = run.started_at, run.finished_at
            into.duration_seconds, into.outcome, into.error = run.duration_seconds, run.outcome, run.error
        into.runs, into.failures = into.runs + run.runs, into.failures + run.failures
        into.duration_sum = into.duration_sum + run.duration_sum
        into.buckets = [a + b for a, b in zip(into.buckets, run.buckets)]
        db.session.delete(run)
    db.session.flush()
