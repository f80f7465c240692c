"""What one /metrics scrape costs the database: the scrape-time collector over a large outbox.

Run from the repository root::

    .venv/bin/python bench/metrics_scrape.py [--messages 100000] [--scrapes 50]

Seeds a scratch PostgreSQL database (``BENCH_DATABASE_URL``, default the local server) and a scratch SQLite file
with ``--messages`` outbox rows shaped like a running install (96% sent, 2.5% skipped, 1% scheduled and due,
0.5% scheduled later) plus a few workers' heartbeats, job runs and send tallies, then times ``--scrapes`` renderings
of /metrics (the collector's queries and the exposition) and prints the median and p95, with PostgreSQL's plan for
the queue count.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from bench.common import DEFAULT_SERVER, load_average, percentile, scratch_database  # noqa: E402

SEED = """
INSERT INTO message (store_id, kind, channel, status, due_at, attempts, created_at, updated_at, sent_at)
SELECT :store, 'abandoned_cart', CASE WHEN i % 5 = 0 THEN 'sms' ELSE 'email' END,
       CASE WHEN i % 1000 < 960 THEN 'sent' WHEN i % 1000 < 985 THEN 'skipped'
            ELSE 'scheduled' END,
       CASE WHEN i % 1000 < 995 THEN :now - (i % 86400) * INTERVAL '1 second'
            ELSE :now + (i % 3600) * INTERVAL '1 second' END,
       1, :now, :now, CASE WHEN i % 1000 < 960 THEN :now ELSE NULL END
FROM generate_series(1, :count) AS i
"""


def seed(app, count: int) -> None:
    from datetime import timedelta

    from retainful import clock, heartbeat, stores
    from retainful.extensions import db
    from retainful.models import Message

    with app.app_context():
        store = stores.create_store("Bench", "bench.example").store
        now = clock.now()
        if db.engine.dialect.name == "postgresql":
            db.session.execute(sa.text(SEED), {"store": store.id, "now": now, "count": count})
        else:
            rows = []
            for i in range(1, count + 1):
                sent, skipped, due = i % 1000 < 960, 960 <= i % 1000 < 985, i % 1000 < 995
                rows.append({"store_id": store.id, "kind": "abandoned_cart", "channel": "sms" if i % 5 == 0 else
                             "email", "status": "sent" if sent else "skipped" if skipped else "scheduled",
                             "due_at": now + timedelta(seconds=-(i % 86400) if due else i % 3600),
                             "attempts": 1, "sent_at": now if sent else None})
            db.session.execute(sa.insert(Message), rows)
        db.session.commit()
        for _ in range(4):  # four worker processes' bookkeeping
            heartbeat._identity = None
            heartbeat.beat()
            for job in ("dispatch", "abandon_sweep", "purge"):
                heartbeat.job_finished(job, now, 0.2, None)
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
        db.session.remove()


def measure(url: str, count: int, scrapes: int) -> None:
    from flask_migrate import upgrade

    from retainful import create_app, metrics
    from retainful.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        upgrade()
    started = time.perf_counter()
    seed(app, count)
    print(f"{app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]}: seeded {count} messages in "
          f"{time.perf_counter() - started:.1f} s")
    metrics.exposition(app)  # warm the pool and the caches
    times = []
    for _ in range(scrapes):
        started = time.perf_counter()
        body = metrics.exposition(app)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    print(f"  one scrape: median {statistics.median(times):.2f} ms, p95 {percentile(times, 95):.2f} ms, "
          f"{len(body)} bytes")
    with app.app_context(), db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            plan = conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS) SELECT status, channel, count(*) FROM message "
                "WHERE status IN ('scheduled', 'sending') GROUP BY status, channel").scalars().all()
            print("  " + "\n  ".join(plan))
            whole = conn.exec_driver_sql("EXPLAIN ANALYZE SELECT status, channel, count(*) FROM message "
                                         "GROUP BY status, channel").scalars().all()
            print(f"  for comparison, every status counted: {whole[-1].strip()}")
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--scrapes", type=int, default=50)
    args = parser.parse_args()
    print(f"load average at start: {load_average()}")
    with tempfile.TemporaryDirectory() as folder:
        os.environ.setdefault("RETAINFUL_INSTANCE_PATH", folder)
        measure(f"sqlite:///{folder}/bench.sqlite3", args.messages, args.scrapes)
        with scratch_database(os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER)) as url:
            measure(url, args.messages, args.scrapes)
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
