"""Exactly once, under kills: long-running ``retainful worker`` processes drain a PostgreSQL outbox while one of them is
SIGKILLed every few seconds and replaced.

PostgreSQL only, like tests/test_workers_multiprocess.py (whose worker and stub helpers it uses). One to three minutes on a
2-core machine, by its load.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter

import sqlalchemy as sa

from retainful.extensions import db
from retainful.jobs import JOBS
from tests.stubs import ProviderStub
from tests.test_workers_multiprocess import (  # noqa: F401  (pg_app is a fixture)
    _kill_all, _seed_due_emails, _start_worker, _statuses, _unfinished, _wait_until_quiet, _worker_env, pg_app)


def _left(app) -> int:
    """How many messages are still scheduled or sending (a count: the test polls it while the workers run)."""
    with app.app_context():
        with db.engine.connect() as conn:
            return conn.scalar(sa.text("SELECT count(*) FROM message WHERE status IN ('scheduled', 'sending')"))


def _sent_by(stub: ProviderStub, api_key: str) -> int:
    return sum(1 for r in stub.requests if r.headers.get("Authorization") == f"Bearer {api_key}")


def _wait_until_sending(stub: ProviderStub, api_key: str, limit: float = 30) -> None:
    """Until the worker with ``api_key`` is sending: a new request of its own within 0.2 s."""
    deadline = time.monotonic() + limit
    seen = _sent_by(stub, api_key)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = _sent_by(stub, api_key)
        if now > seen:
            return
        seen = now
    raise AssertionError(f"the worker with {api_key} sent nothing for {limit} s")


SOAK_STORES, SOAK_PER_STORE = 3, 1_667  # 5,001 due emails
SOAK_WORKERS, SOAK_KILLS, SOAK_KILL_EVERY = 3, 10, 3.0
# A short lease returns a dead worker's claims quickly; a live worker must still get through each claimed batch well
# within it (40 messages, 8 at a time), or another worker reclaims the batch and sends it again.
SOAK_CONCURRENCY, SOAK_BATCH, SOAK_LEASE = 8, 40, 6
DISPATCH_EVERY = next(job.every_seconds for job in JOBS if job.id == "dispatch")  # each run first reclaims leases


def test_soak_workers_sigkilled_every_few_seconds_send_every_message(pg_app, postgresql_url, tmp_path):
    """Exactly once under kills: three long-running ``retainful worker`` processes drain 5,001 due emails of three
    stores while the oldest of them is SIGKILLed every few seconds and replaced, ten times.

    Every worker process sends with an API key of its own, so the stub knows which process made each request; the
    outbox row keeps the provider's message id of the send it recorded. A request whose id no row kept is a repeat,
    and a repeat is allowed only from a killed process (a send in flight when it died, at most DISPATCH_CONCURRENCY
    per kill): a live worker never re-sends a message another worker already sent, and nothing is lost.
    """
    message_ids = []
    for n in range(SOAK_STORES):
        message_ids += _seed_due_emails(pg_app, SOAK_PER_STORE, f"Soak Store {n}", f"soak{n}.example")[1]
    logs = tmp_path / "logs"
    logs.mkdir()
    generations = iter(range(1_000))
    killed: set[str] = set()  # the API keys of the SIGKILLed processes
    kill_times: list[float] = []

    def start() -> tuple[subprocess.Popen, str]:
        key = f"SG.soak-{next(generations)}"
        name = key.removeprefix("SG.")
        env = _worker_env(postgresql_url, stub, tmp_path / "instance", SENDGRID_API_KEY=key,
                          DISPATCH_CONCURRENCY=SOAK_CONCURRENCY, DISPATCH_BATCH_SIZE=SOAK_BATCH,
                          DISPATCH_LEASE_SECONDS=SOAK_LEASE)
        return _start_worker(env, logs, name, once=False), key

    with ProviderStub(delay=0.25) as stub:  # 8 in flight per worker, 250 ms each: at most 32 a second, so the
        # 5,001 messages outlast the 10 kills (3 workers drain them in 50 s or more)
        workers = [start() for _ in range(SOAK_WORKERS)]  # oldest first
        try:
            while len(kill_times) < SOAK_KILLS:
                time.sleep(SOAK_KILL_EVERY)
                victim, key = workers[0]  # still in the list until it is dead: the finally kills it if we fail
                assert _left(pg_app), f"the outbox drained after only {len(kill_times)} kills"
                _wait_until_sending(stub, key)  # a kill lands mid-send, not while the worker is still starting
                assert victim.poll() is None, (logs / f"{key.removeprefix('SG.')}.err").read_text()[-3000:]
                os.kill(victim.pid, signal.SIGKILL)
                assert victim.wait(10) == -signal.SIGKILL
                workers.pop(0)
                killed.add(key)
                kill_times.append(time.monotonic())
                workers.append(start())
            # Drained: nothing scheduled or sending. The longest a message may legitimately wait is a dead worker's
            # lease, then the next dispatch run of a live worker (which reclaims expired leases as it starts).
            stall_limit = SOAK_LEASE + 2 * DISPATCH_EVERY + 5
            left, progress_at = _left(pg_app), time.monotonic()
            while left:
                assert time.monotonic() - progress_at < stall_limit, \
                    f"{left} messages stuck for {stall_limit} s, e.g. {_unfinished(pg_app)[:5]}"
                time.sleep(0.5)
                now_left = _left(pg_app)
                if now_left < left:
                    progress_at = time.monotonic()
                left = now_left
            drained_at = time.monotonic()
            _wait_until_quiet(stub)  # a late re-send, if any, arrives before the count
        finally:
            _kill_all(process for process, _ in workers)
        requests = [r for r in stub.requests if r.json is not None]  # a request cut off by a kill sent nothing
        cut_off = len(stub.requests) - len(requests)

    assert len(kill_times) >= SOAK_KILLS
    assert Counter(_statuses(pg_app).values()) == {"sent": len(message_ids)}
    received = Counter(int(r.json["custom_args"]["message_id"]) for r in requests)
    assert set(received) == set(message_ids), f"never sent: {sorted(set(message_ids) - set(received))[:20]}"
    with pg_app.app_context():
        with db.engine.connect() as conn:
            recorded = set(conn.execute(sa.text("SELECT provider_message_id FROM message")).scalars())
    repeats = [r for r in requests if r.response_headers["X-Message-Id"] not in recorded]
    assert len(requests) - len(repeats) == len(message_ids)  # one recorded send per message
    by_process = Counter(r.headers["Authorization"].removeprefix("Bearer ") for r in repeats)
    assert set(by_process) <= killed, f"repeats from workers that were never killed: {by_process}"
    assert max(by_process.values(), default=0) <= SOAK_CONCURRENCY, by_process
    assert sum(received.values()) - len(message_ids) == len(repeats) <= SOAK_CONCURRENCY * len(kill_times)
    print(f"soak: {len(message_ids)} messages, {len(kill_times)} kills, {len(repeats)} repeats {dict(by_process)}, "
          f"{cut_off} requests cut off, drained {drained_at - kill_times[-1]:.1f} s after the last kill")
