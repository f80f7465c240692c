"""Several real ``retainful worker --once`` processes sharing one PostgreSQL outbox.

The claim is ``FOR UPDATE SKIP LOCKED`` plus a lease (retainful/messaging/outbox.py): these tests check the promise in
DESIGN.md's Scheduling section with real processes, a real database and a real HTTP provider stand-in on 127.0.0.1:

* four workers draining 10,000 due emails together send each exactly once;
* a worker SIGKILLed mid-batch loses nothing: its leases expire and the next worker sends what it left, re-sending
  only what was in flight at the moment of the kill.

PostgreSQL only (SQLite has one writer and no SKIP LOCKED), so they use ``postgresql_url`` directly instead of the
``app`` fixture, which would run them on SQLite too. The workers run on the real clock, not the frozen test clock:
the messages are due by real time.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from retainful.extensions import db
from retainful.models import Sequence, Step
from retainful.stores import create_store
from tests.conftest import _empty_tables, make_app
from tests.stubs import ProviderStub

RETAINFUL = str(Path(sys.executable).with_name("retainful"))  # the console script of this venv
WORKER_TIMEOUT = 600


@pytest.fixture
def pg_app(postgresql_url):
    """The app on the scratch PostgreSQL database (skipped like the fixture when PostgreSQL is unavailable)."""
    app = make_app(postgresql_url)
    yield app
    _empty_tables(app)


def _seed_due_emails(app, count: int, name: str = "Acme Mugs", domain: str = "acme.example"
                     ) -> tuple[int, list[int]]:
    """One store (no frequency cap) and ``count`` abandoned carts, each with its own customer and one email message
    due a minute ago by the real clock. Bulk SQL, so 10,000 take a second or two. Returns (store id, message ids)."""
    now = datetime.now(timezone.utc)
    active = now - timedelta(minutes=45)
    with app.app_context():
        store = create_store(name, domain).store
        store.email_cap_hours = 0  # every customer is distinct anyway; keep the cap's query out of the picture
        db.session.commit()
        store_id = store.id
        step_id = db.session.scalar(
            sa.select(Step.id).join(Sequence).where(Sequence.store_id == store_id, Step.position == 1))
        params = {"store": store_id, "n": count, "step": step_id, "now": now, "active": active,
                  "abandoned": active + timedelta(minutes=15), "due": now - timedelta(minutes=1)}
        with db.engine.begin() as conn:
            conn.execute(sa.text("""
                WITH customers AS (
                    INSERT INTO customer (store_id, email, first_name, email_consent, last_seen_at, created_at)
                    SELECT :store, 'shopper' || g || '@example.com', 'Shopper ' || g, true, :active, :active
                    FROM generate_series(1, :n) AS g
                    RETURNING id
                )
                INSERT INTO cart (store_id, token, customer_id, status, currency, subtotal, total, item_count,
                                  lines, recovery_url, reachable, last_activity_at, abandoned_at, created_at)
                SELECT :store, 'tok-' || id, id, 'abandoned', 'USD', 12.50, 12.50, 1,
                       '[{"product_id": "101", "name": "Red mug", "quantity": 1, "price": "12.50"}]',
                       'https://acme.example/cart', true, :active, :abandoned, :active
                FROM customers
            """), params)
            ids = list(conn.execute(sa.text("""
                INSERT INTO message (store_id, cart_id, customer_id, step_id, kind, channel, status, due_at,
                                     attempts, created_at, updated_at)
                SELECT :store, id, customer_id, :step, 'abandoned_cart', 'email', 'scheduled', :due, 0, :now, :now
                FROM cart WHERE store_id = :store
                RETURNING id
            """), params).scalars())
    assert len(ids) == count
    return store_id, ids


def _worker_env(postgresql_url: str, stub: ProviderStub, instance: Path, **settings) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.lower().endswith("_proxy")}
    env.update({
        "DATABASE_URL": postgresql_url,
        "RETAINFUL_INSTANCE_PATH": str(instance),
        "SECRET_KEY": "test",
        "EMAIL_PROVIDER": "sendgrid",
        "SENDGRID_API_KEY": "SG.test",
        "SENDGRID_API_HOST": stub.base_url,
        "SMS_PROVIDER": "sandbox",
        "LOG_LEVEL": "WARNING",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    })
    env.update({key: str(value) for key, value in settings.items()})
    return env


def _start_worker(env: dict[str, str], logs: Path, name: str, *, once: bool = True) -> subprocess.Popen:
    """``retainful worker --once`` (or the long-running ``retainful worker``) as a direct child (no shell), so its pid
    is the Python process itself."""
    return subprocess.Popen([RETAINFUL, "worker", *(["--once"] if once else [])], env=env, stdin=subprocess.DEVNULL,
                            stdout=(logs / f"{name}.out").open("wb"), stderr=(logs / f"{name}.err").open("wb"))


def _finish(process: subprocess.Popen, logs: Path, name: str, timeout: float = WORKER_TIMEOUT) -> tuple[int, str]:
    """Wait for a worker; returns (exit code, stdout). Its stderr is shown when a later assertion fails."""
    code = process.wait(timeout=timeout)
    out = (logs / f"{name}.out").read_text()
    err = (logs / f"{name}.err").read_text()
    if code != 0 or err.strip():
        print(f"--- {name} exit {code}\n{out}\n--- {name} stderr\n{err[-5000:]}")
    return code, out


def _dispatch_counts(stdout: str) -> dict[str, int]:
    """The ``dispatch: {...}`` line that ``retainful worker --once`` prints (``{}`` when it had nothing to do)."""
    [line] = [line for line in stdout.splitlines() if line.startswith("dispatch: ")]
    return json.loads(line[len("dispatch: "):])


def _received_ids(stub: ProviderStub, *, complete_only: bool = False) -> list[int]:
    """The outbox ids of the Mail Send calls the stub received. ``complete_only`` drops a request cut off mid-body
    (its sender was killed while writing it): the provider would have refused it, so it sent nothing."""
    requests = stub.requests
    assert all((r.method, r.path) == ("POST", "/v3/mail/send") for r in requests)
    if complete_only:
        requests = [r for r in requests if r.json is not None]
    return [int(r.json["custom_args"]["message_id"]) for r in requests]


def _wait_until_quiet(stub: ProviderStub, quiet: float = 0.5, limit: float = 10) -> None:
    """Until the stub has received nothing new for ``quiet`` seconds."""
    deadline = time.monotonic() + limit
    seen = len(stub.requests)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = len(stub.requests)
        if now == seen:
            return
        seen = now


def _statuses(app) -> dict[int, str]:
    with app.app_context():
        with db.engine.connect() as conn:
            return dict(conn.execute(sa.text("SELECT id, status FROM message")).all())


def _unfinished(app) -> list[dict]:
    """The messages not yet in a final state, with what says why (lease, due time, last error): what a drain left
    behind, shown by a failing assertion."""
    with app.app_context():
        with db.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(sa.text(
                "SELECT id, status, due_at, lease_owner, lease_until, attempts, error FROM message "
                "WHERE status IN ('scheduled', 'sending') ORDER BY id"))]


def _kill_all(processes) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_four_workers_send_each_message_exactly_once(pg_app, postgresql_url, tmp_path):
    total = 10_000
    _, message_ids = _seed_due_emails(pg_app, total)
    logs = tmp_path / "logs"
    logs.mkdir()
    names = [f"worker{i}" for i in range(4)]
    with ProviderStub() as stub:
        # Each worker holds up to DISPATCH_CONCURRENCY + 1 connections (one per send thread, one claiming). At the
        # default of 32, four workers want 132, over PostgreSQL's default max_connections of 100, and connections
        # then fail mid-run (a failed claim ends a worker with exit 1; a failed finish after the provider accepted an
        # email leaves it `sending`, to be sent again when its lease expires). 8 keeps four workers near 36, leaving
        # room for whatever else shares the server, with still 8 sends in flight per worker.
        env = _worker_env(postgresql_url, stub, tmp_path / "instance", DISPATCH_BATCH_SIZE=100,
                          DISPATCH_CONCURRENCY=8)
        workers = [_start_worker(env, logs, name) for name in names]
        try:
            results = [_finish(process, logs, name) for process, name in zip(workers, names)]
        finally:
            _kill_all(workers)
        received = _received_ids(stub)

    assert [code for code, _ in results] == [0, 0, 0, 0]
    per_worker = [_dispatch_counts(out) for _, out in results]
    assert all(set(counts) <= {"sent"} for counts in per_worker), per_worker  # no skips, retries or errors
    sent = [counts.get("sent", 0) for counts in per_worker]
    assert sum(sent) == total, sent
    assert sum(1 for n in sent if n) >= 2, f"the workers did not share the outbox: {sent}"

    assert len(received) == total  # exactly 10,000 POST /v3/mail/send
    duplicates = {i: n for i, n in Counter(received).items() if n > 1}
    assert not duplicates, f"{len(duplicates)} messages sent more than once, e.g. {list(duplicates.items())[:10]}"
    assert set(received) == set(message_ids)
    assert Counter(_statuses(pg_app).values()) == {"sent": total}


def test_worker_killed_mid_batch_loses_nothing(pg_app, postgresql_url, tmp_path):
    total, concurrency, lease = 300, 8, 3
    _, message_ids = _seed_due_emails(pg_app, total)
    logs = tmp_path / "logs"
    logs.mkdir()
    with ProviderStub(delay=0.2) as stub:  # 8 sends in flight, 0.2 s each: about 40 sends a second
        env = _worker_env(postgresql_url, stub, tmp_path / "instance",
                          DISPATCH_LEASE_SECONDS=lease, DISPATCH_CONCURRENCY=concurrency)
        first = _start_worker(env, logs, "first")
        try:
            deadline = time.monotonic() + 60
            while len(stub.requests) < 30 and first.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert first.poll() is None, \
                f"the first worker ended before it could be killed:\n{(logs / 'first.err').read_text()[-3000:]}"
            assert 30 <= len(stub.requests) < total // 2, "the first worker did not get going in time"
            os.kill(first.pid, signal.SIGKILL)  # the console script's own Python process: no shell in between
            killed_at = time.monotonic()
            assert first.wait(10) == -signal.SIGKILL
        finally:
            _kill_all([first])
        _wait_until_quiet(stub)  # requests the dead worker had already written reach the stub's handler threads
        before_kill = set(_received_ids(stub, complete_only=True))
        after_kill = _statuses(pg_app)
        # Claimed but never finished: the dead worker's leases (the rest of its batch, and the sends in flight).
        left_sending = {i for i, status in after_kill.items() if status == "sending"}
        assert left_sending, "the kill left nothing claimed: it came too late to test anything"
        assert set(after_kill.values()) <= {"sent", "sending", "scheduled"}
        # Received by the provider but not recorded as sent: these were in flight when the process died.
        in_flight = before_kill & left_sending
        assert len(in_flight) <= concurrency
        assert {i for i, s in after_kill.items() if s == "sent"} <= before_kill

        time.sleep(max(0.0, killed_at + lease + 1.5 - time.monotonic()))  # every lease the dead worker held expires
        stub.delay = 0
        second = _start_worker(env, logs, "second")
        try:
            code, out = _finish(second, logs, "second")
        finally:
            _kill_all([second])
        received = _received_ids(stub, complete_only=True)

    assert code == 0
    assert set(_dispatch_counts(out)) <= {"sent"}
    assert not _unfinished(pg_app)  # on failure: what is still scheduled or sending, and why
    assert Counter(_statuses(pg_app).values()) == {"sent": total}  # nothing lost
    assert set(received) == set(message_ids)  # every message reached the provider
    # At-least-once, not exactly-once: a send the provider accepted but whose result the killed worker never wrote
    # down is sent again once its lease expires. SendGrid's Mail Send API has no idempotency key to deduplicate
    # with, so this window (at most DISPATCH_CONCURRENCY sends, those in flight at the kill) is the floor; nothing
    # that was recorded as sent, and nothing that had not reached the provider yet, may go out twice.
    twice = {i for i, n in Counter(received).items() if n > 1}
    assert twice == in_flight, f"re-sent beyond the in-flight window: {sorted(twice - in_flight)[:20]}"
    assert max(Counter(received).values()) <= 2

