"""SIGTERM to a real ``retainful worker`` (long-running or ``--once``) mid-drain: it stops claiming, the sends in
flight finish and are recorded, the claimed messages it did not send go back to ``scheduled`` at once (not after the
lease), and it exits 0 within a bounded time. A second worker then drains the rest: every message reaches the
provider stub exactly once, none lost.

On SQLite (one worker under the write lock) and PostgreSQL, with the helpers of tests/test_workers_multiprocess.py.
"""
from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from retainful.extensions import db
from retainful.messaging import outbox
from retainful.models import Cart, Customer, Message, Sequence, Step
from retainful.stores import create_store
from tests.conftest import _empty_tables, make_app
from tests.stubs import ProviderStub
from tests.test_workers_multiprocess import _finish, _kill_all, _received_ids, _start_worker, _statuses, _worker_env

TOTAL, CONCURRENCY, BATCH = 600, 8, 40  # 8 sends of 0.2 s at a time: about 40 a second, 15 s for all
STOP_WITHIN_S = 10  # in-flight sends (0.2 s each) plus the recorder's commit, with room for a loaded machine


@pytest.fixture
def real_app(database_url):
    """The app on SQLite or PostgreSQL; the workers share its database by the real clock."""
    app = make_app(database_url)
    yield app
    _empty_tables(app)


def _seed_due_emails(app, count: int) -> list[int]:
    """``count`` abandoned carts of one store (no frequency cap), each with its own customer and one email due a
    minute ago by the real clock; ORM bulk inserts, so both databases take the same path."""
    now = datetime.now(timezone.utc)
    with app.app_context():
        store = create_store("Acme Mugs", "acme.example").store
        store.email_cap_hours = 0
        db.session.flush()
        step_id = db.session.scalar(
            sa.select(Step.id).join(Sequence).where(Sequence.store_id == store.id, Step.position == 1))
        customers = db.session.scalars(sa.insert(Customer).returning(Customer.id), [
            {"store_id": store.id, "email": f"shopper{n}@example.com", "first_name": f"Shopper {n}",
             "email_consent": True, "last_seen_at": now} for n in range(count)]).all()
        carts = db.session.execute(sa.insert(Cart).returning(Cart.id, Cart.customer_id), [
            {"store_id": store.id, "token": f"tok-{customer}", "customer_id": customer, "status": "abandoned",
             "currency": "USD", "subtotal": Decimal("12.50"), "total": Decimal("12.50"), "item_count": 1,
             "lines": [{"product_id": "101", "name": "Red mug", "quantity": 1, "price": "12.50"}],
             "recovery_url": "https://acme.example/cart", "reachable": True,
             "last_activity_at": now - timedelta(minutes=45), "abandoned_at": now - timedelta(minutes=30)}
            for customer in customers]).all()
        ids = db.session.scalars(sa.insert(Message).returning(Message.id), [
            {"store_id": store.id, "cart_id": cart, "customer_id": customer, "step_id": step_id,
             "kind": "abandoned_cart", "channel": "email", "status": "scheduled",
             "due_at": now - timedelta(minutes=1), "attempts": 0} for cart, customer in carts]).all()
        db.session.commit()
    assert len(ids) == count
    return list(ids)


def _outbox(app) -> list[dict]:
    with app.app_context():
        with db.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(sa.text(
                "SELECT id, status, lease_owner, provider_message_id FROM message ORDER BY id"))]


@pytest.mark.parametrize("once", [False, True], ids=["worker", "worker --once"])
def test_sigterm_midway_finishes_in_flight_releases_the_rest_and_loses_nothing(real_app, database_url, tmp_path,
                                                                              once):
    message_ids = _seed_due_emails(real_app, TOTAL)
    logs = tmp_path / "logs"
    logs.mkdir()
    with ProviderStub(delay=0.2) as stub:
        env = _worker_env(database_url, stub, tmp_path / "instance", DISPATCH_CONCURRENCY=CONCURRENCY,
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

        rows = _outbox(real_app)
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

    assert Counter(_statuses(real_app).values()) == {"sent": TOTAL}
    assert set(received) == set(message_ids)
    assert max(received.values()) == 1, [i for i, n in received.items() if n > 1][:10]
    with real_app.app_context():
        with db.engine.connect() as conn:
            recorded = set(conn.execute(sa.text("SELECT provider_message_id FROM message")).scalars())
    assert {r.response_headers["X-Message-Id"] for r in stub.requests} == recorded


def test_release_returns_only_the_claims_still_its_own(real_app, frozen_clock):
    """A release names its lease: rows another worker holds now (its lease taken over) are left alone."""
    _seed_due_emails(real_app, 4)
    frozen_clock.freeze(datetime.now(timezone.utc))  # the seeded messages are due by the real clock
    with real_app.app_context():
        mine, theirs = outbox.claim(2, timedelta(minutes=5)), outbox.claim(2, timedelta(minutes=5))
        assert outbox.release([(mine[0], mine[1] + theirs[1])]) == 2
        db.session.remove()
    statuses = _statuses(real_app)
    assert {statuses[i] for i in mine[1]} == {"scheduled"}
    assert {statuses[i] for i in theirs[1]} == {"sending"}
