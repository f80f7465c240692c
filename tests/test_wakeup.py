"""A message that falls due wakes the worker at once instead of at the next 5-second poll (retainful/messaging/
wakeup.py): on PostgreSQL a NOTIFY from migration 0020's triggers (whoever wrote the row), on both databases the next
due time the worker knows of.

In-process tests drive the waiter against the frozen test clock; the last test runs a real long-running
``retainful worker`` on PostgreSQL against the provider stub and times insert-to-send.
"""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from retainful import clock
from retainful.extensions import db
from retainful.messaging import wakeup
from tests.conftest import T0, cart_body
from tests.stubs import ProviderStub
from tests.test_recovery_sequence import run_jobs
from tests.test_workers_multiprocess import (  # noqa: F401  (pg_app is a fixture)
    _kill_all, _received_ids, _seed_due_emails, _start_worker, _worker_env, pg_app)

POLL = 5.0
STEP1 = timedelta(minutes=30)  # the default sequence's first step, after the cart's last activity


@pytest.fixture
def planned(app, shop):
    """One abandoned cart whose step-1 messages are scheduled at T0 + 30 min; the clock stands at T0 + 20 min."""
    shop.put_cart("c", cart_body())
    clock.freeze(T0 + timedelta(minutes=16))
    run_jobs(app)
    clock.freeze(T0 + timedelta(minutes=20))
    return app


def _timed_wait(app, waiter) -> float:
    started = time.monotonic()
    with app.app_context():
        waiter.wait(threading.Event())
    return time.monotonic() - started


def _reschedule(app, due) -> None:
    """What planning, a retry or a deferral does: a row written scheduled with a new due time, from a session of
    its own (not the waiter's)."""
    with app.app_context():
        db.session.execute(sa.text("UPDATE message SET due_at = :due WHERE status = 'scheduled'"), {"due": due})
        db.session.commit()
        db.session.remove()


def test_the_next_due_time_known_bounds_the_sleep(planned):
    with planned.app_context():
        assert wakeup.next_due_in(planned, POLL) == POLL  # due in 10 minutes: the poll comes first
    clock.freeze(T0 + STEP1 - timedelta(seconds=0.4))
    with planned.app_context():
        assert wakeup.next_due_in(planned, POLL) == pytest.approx(0.4)
        waiter = wakeup.waiter(planned, POLL)
    try:
        assert 0.3 < _timed_wait(planned, waiter) < 1.5  # woken by the due time, not the 5 s poll
    finally:
        waiter.close()


@pytest.fixture
def listener(planned):
    """The PostgreSQL waiter, LISTENing from before the test writes anything."""
    if planned.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite has no NOTIFY: its worker polls")
    with planned.app_context():
        waiter = wakeup.waiter(planned, POLL)
    assert isinstance(waiter, wakeup.Listen)
    yield waiter
    waiter.close()


def test_a_message_written_due_now_wakes_the_waiter_at_once(planned, listener):
    _reschedule(planned, clock.now())  # written before the wait starts (during a round): not lost
    assert _timed_wait(planned, listener) < 1.0
    _reschedule(planned, clock.now() + timedelta(hours=1))  # heard, and not a reason to wake
    threading.Timer(0.3, _reschedule, (planned, clock.now())).start()  # written while it waits
    assert 0.2 < _timed_wait(planned, listener) < 1.5


def test_a_message_rescheduled_sooner_wakes_the_waiter_when_it_falls_due(planned, listener):
    _reschedule(planned, clock.now() + timedelta(seconds=1.5))  # sooner than the poll, later than now
    assert 1.2 < _timed_wait(planned, listener) < 2.5


def test_the_listen_connection_reconnects_after_it_drops(planned, listener):
    with planned.app_context():
        with db.engine.connect() as conn:
            killed = conn.scalar(sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE query = 'LISTEN retainful_outbox' AND datname = current_database()"))
    assert killed == 1
    assert _timed_wait(planned, listener) < 2.0  # the drop is noticed, the reconnect wakes it (a NOTIFY may be lost)
    threading.Timer(0.3, _reschedule, (planned, clock.now())).start()
    assert 0.2 < _timed_wait(planned, listener) < 1.5  # and it hears NOTIFYs again


def test_a_running_worker_sends_a_message_inserted_due_within_a_second(pg_app, postgresql_url, tmp_path):
    """Insert-to-send under 1.5 s each of three times: the 5 s poll alone would miss that most times."""
    logs = tmp_path / "logs"
    logs.mkdir()
    with ProviderStub() as stub:
        worker = _start_worker(_worker_env(postgresql_url, stub, tmp_path / "instance"), logs, "worker", once=False)
        try:
            time.sleep(3)  # started, first (empty) round done, waiting
            for n in range(3):
                assert worker.poll() is None, (logs / "worker.err").read_text()
                seen = len(stub.requests)
                inserted = time.monotonic()
                _, ids = _seed_due_emails(pg_app, 1, f"Wake Store {n}", f"wake{n}.example")
                while len(stub.requests) == seen and time.monotonic() - inserted < 10:
                    time.sleep(0.02)
                assert _received_ids(stub)[seen:] == ids
                assert time.monotonic() - inserted < 1.5
                time.sleep(0.5 + n)  # the next insert lands at another point of the poll interval
        finally:
            _kill_all([worker])
