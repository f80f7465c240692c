"""SIGTERM to a real ``retainful worker`` (long-running or ``--once``) mid-drain: it stops claiming, the sends in
flight finish and are recorded, the claimed messages it did not send go back to ``scheduled`` at once (not after the
lease), and it exits 0 within a bounded time. A second worker then drains the rest: every message reaches the
provider stub exactly once, none lost.

PostgreSQL (the deployment with several workers), with the helpers of tests/test_workers_multiprocess.py.
"""
from __future__ import annotations

import signal
import time
from collections import Counter

import pytest
import sqlalchemy as sa

from retainful.extensions import db
from tests.stubs import ProviderStub
from tests.test_workers_multiprocess import (  # noqa: F401  (pg_app is a fixture)
    _finish, _kill_all, _received_ids, _seed_due_emails, _start_worker, _statuses, _worker_env, pg_app)

TOTAL, CONCURRENCY, BATCH = 600, 8, 40  # 8 sends of 0.2 s at a time: about 40 a second, 15 s for all
STOP_WITHIN_S = 10  # in-flight sends (0.2 s each) plus the recorder's commit, with room for a loaded machine


def _outbox(app) -> list[dict]:
    with app.app_context():
        with db.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(sa.text(
                "SELECT id, status, lease_owner, provider_message_id FROM message ORDER BY id"))]


@pytest.mark.parametrize("once", [False, True], ids=["worker", "worker --once"])
def test_sigterm_midway_finishes_in_flight_releases_the_rest_and_loses_nothing(pg_app, postgresql_url, tmp_path,
                                                                              once):
    _, message_ids = _seed_due_emails(pg_app, TOTAL)
    logs = tmp_path / "logs"
    logs.mkdir()
    with ProviderStub(delay=0.2) as stub:
        env = _worker_env(postgresql_url, stub, tmp_path / "instance", DISPATCH_CONCURRENCY=CONCURRENCY,
                          DISPATCH_BATCH_SIZE=BATCH)
        first = _start_worker(env, logs, "first", once=once)
        try:
            deadline = time.monotonic() + 60
            while len(stub.requests) < TOTAL // 4:
                assert time.monotonic() < deadline and first.poll() is None, (logs / "first.err").read_text()
                time.sleep(0.1)
            first.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            code, _ = _finish(first, logs, "first", timeout=STOP_WITHIN_S + 20)
            stopped_in = time.monotonic() - signalled
        finally:
            _kill_all([first])
        assert code == 0
        assert stopped_in < STOP_WITHIN_S
        time.sleep(0.5)  # nothing arrives after the exit: every send was finished before it
        sent_by_first = Counter(_received_ids(stub))
        assert len(stub.requests) == sum(sent_by_first.values())

        rows = _outbox(pg_app)
        by_status = Counter(row["status"] for row in rows)
        assert set(by_status) == {"sent", "scheduled"}, by_status  # nothing left 'sending' under a lease
        assert all(row["lease_owner"] is None for row in rows)
        sent = {row["id"] for row in rows if row["status"] == "sent"}
        assert sent == set(sent_by_first), "a send in flight was not recorded, or a recorded one never went out"
        assert max(sent_by_first.values()) == 1
        assert 0 < len(sent) < TOTAL, "SIGTERM landed before the first send or after the last"

        second = _start_worker(env, logs, "second", once=True)  # released rows are due now, not after the lease
        try:
            code, _ = _finish(second, logs, "second", timeout=120)
        finally:
            _kill_all([second])
        assert code == 0
        received = Counter(_received_ids(stub))

    assert Counter(_statuses(pg_app).values()) == {"sent": TOTAL}
    assert set(received) == set(message_ids)
    assert max(received.values()) == 1, [i for i, n in received.items() if n > 1][:10]
    with pg_app.app_context():
        with db.engine.connect() as conn:
            recorded = set(conn.execute(sa.text("SELECT provider_message_id FROM message")).scalars())
    assert {r.response_headers["X-Message-Id"] for r in stub.requests} == recorded
