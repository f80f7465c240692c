"""Campaign benchmark: a 100,000-recipient campaign drained through the outbox by the long-running worker, while
abandoned-cart messages fall due at a steady rate; the campaign's drain rate beside the bare loop, and the
abandoned-cart messages' due-to-sent delay (target: p99 < 10 s).

Run from the repository root (``make bench-campaign`` does this)::

    .venv/bin/python bench/campaign.py [--recipients 100000] [--rate 150] [--workers 1] [--quick] [--json]

What it does, in one run (about 13 minutes by default, about 3 with ``--quick``'s 20,000 recipients):

1. a scratch database ``retainful_bench_<random>`` (``BENCH_DATABASE_URL``), migrated, a store whose email cap is 0;
   ``--recipients`` consenting customers and the abandoned carts with scheduled step-1 emails of the arrivals
   (``--arrivals-rate`` per second for the drain's expected length), seeded with bulk SQL;
2. the SendGrid stub of bench/dispatch.py (``--delay`` 0.1 s) in its own process; the bare loop against it (its
   ``DISPATCH_CONCURRENCY`` threads posting SendGrid bodies): the ceiling, requests/s;
3. a campaign to everyone, created with ``campaigns.service`` and due now; ``--workers`` long-running ``retainful
   worker`` processes (their ``campaigns`` job expands it ``CAMPAIGN_BATCH_SIZE`` recipients a transaction, paced at
   ``CAMPAIGN_SEND_RATE`` = ``--rate`` messages per second; their dispatch loop sends) while the abandoned-cart
   messages fall due at ``--arrivals-rate``;
4. prints the campaign's drain rate (first to last ``sent_at``) beside the bare loop's, the arrivals' due-to-sent
   p50/p99 against the 10 s target, and that every recipient got exactly one message (``--json``: the figures as
   one JSON line too). Everything is capped by ``--time-cap``; workers and stubs are stopped at the end and the
   scratch database is dropped. Only 127.0.0.1 is ever contacted.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the repository is importable
from bench.common import DEFAULT_SERVER, load_average, migrated_store, scratch_database  # noqa: E402
from bench.dispatch import (  # noqa: E402
    SENDGRID_KEY, Database, bare_loop_in_subprocess, bench_env, drain, log_problems, stub_process, workers)

TARGET_P99_S = 10.0  # the abandoned-cart messages due while a campaign drains: due-to-sent

CUSTOMERS_SQL = """
INSERT INTO customer (store_id, external_id, email, first_name, locale, email_consent, email_consent_at,
                      email_consent_source, last_seen_at, created_at)
SELECT :store_id, 'fan-' || g, 'fan-' || g || '@bench.example', 'Fan', 'en_US', true, now(), 'bench', now(), now()
FROM generate_series(1, :n) AS g
"""


def create_campaign(database_url: str, store_id: int, instance: Path) -> int:
    """The campaign to every consenting customer, due now, made by the service the API calls."""
    os.environ.setdefault("RETAINFUL_INSTANCE_PATH", str(instance))
    from retainful import clock, create_app
    from retainful.campaigns import service
    from retainful.extensions import db
    from retainful.models import Store

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "bench"})
    with app.app_context():
        store = db.session.get(Store, store_id)
        wall = clock.now().astimezone(ZoneInfo(store.timezone)).replace(tzinfo=None)
        campaign = service.create(store, service.parse({"name": "Bench sale", "channels": ["email"],
                                                        "send_at": wall.isoformat()}), author="bench")
        campaign_id = campaign.id
        db.session.remove()
        db.engine.dispose()
    return campaign_id


def wait_for_workers(db: Database, count: int, procs, timeout: float = 120.0) -> None:
    """Until every worker has recorded its first heartbeat (it beats once its scheduler is configured), so the
    arrivals' delays measure sending, not a worker's start-up."""
    deadline = time.monotonic() + timeout
    while db.scalar("SELECT count(*) FROM worker_heartbeat") < count and time.monotonic() < deadline:
        if any(proc.poll() is not None for proc in procs):
            raise RuntimeError("a worker exited while starting")
        time.sleep(0.5)


def campaign_outcome(db: Database, campaign_id: int) -> dict:
    """The campaign's rows by status, its sent_at window, and whether any customer got two."""
    with db.engine.connect() as conn:
        statuses = dict(conn.execute(db.sa.text(
            "SELECT status, count(*) FROM message WHERE campaign_id = :c GROUP BY 1"), {"c": campaign_id}).all())
        first, last, customers, rows = conn.execute(db.sa.text(
            "SELECT extract(epoch FROM min(sent_at)), extract(epoch FROM max(sent_at)), count(DISTINCT customer_id), "
            "count(*) FROM message WHERE campaign_id = :c"), {"c": campaign_id}).one()
        state, recipients = conn.execute(db.sa.text(
            "SELECT state, recipient_count FROM campaign WHERE id = :c"), {"c": campaign_id}).one()
    sent = statuses.get("sent", 0)
    window = float(last) - float(first) if sent > 1 else 0.0
    return {"state": state, "recipient_count": recipients, "rows": rows, "distinct_customers": customers,
            "statuses": statuses, "sent": sent, "window_s": window, "drain_rate": sent / window if window else 0.0}


def run(args) -> dict:
    server = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_SERVER
    instance = Path(tempfile.mkdtemp(prefix="retainful-bench-"))
    base_env = bench_env(os.environ)
    load_start = load_average()
    try:
        with ExitStack() as stack:
            database_url = stack.enter_context(scratch_database(server))
            env = {**base_env, "DATABASE_URL": database_url, "RETAINFUL_INSTANCE_PATH": str(instance),
                   "LOG_LEVEL": "WARNING", "SECRET_KEY": "bench", "PYTHONUNBUFFERED": "1"}
            issued = migrated_store(env)
            db = Database(database_url)
            stack.callback(db.engine.dispose)
            step_id = db.prepare_store(issued["id"])
            print(f"seeding {args.recipients} campaign recipients", file=sys.stderr)
            db.execute(CUSTOMERS_SQL, store_id=issued["id"], n=args.recipients)
            expected_s = args.recipients / args.rate
            arrivals = db.seed(issued["id"], step_id, "ac", max(1, round(args.arrivals_rate * expected_s)))
            stub = stack.enter_context(stub_process(args.delay, env))
            bare = bare_loop_in_subprocess({"base_url": stub.base_url, "concurrency": args.concurrency,
                                            "requests": args.bare_requests}, env)
            worker_env = {**env, "EMAIL_PROVIDER": "sendgrid", "SENDGRID_API_KEY": SENDGRID_KEY,
                          "SENDGRID_API_HOST": stub.base_url, "SMS_PROVIDER": "sandbox",
                          "DISPATCH_CONCURRENCY": str(args.concurrency), "CAMPAIGN_SEND_RATE": str(args.rate),
                          "CAMPAIGN_BATCH_SIZE": str(args.batch_size)}
            campaign_id = create_campaign(database_url, issued["id"], instance)
            db.wait_for_connections(args.workers, args.concurrency)
            with workers(args.workers, worker_env, False, instance, "W") as procs:
                wait_for_workers(db, args.workers, procs)
                start = time.time() + 2.0
                db.make_due(*arrivals, start, args.arrivals_rate)
                run_ = drain(db, *arrivals, procs, "arrivals while the campaign drains", args.time_cap, instance,
                             "W", until_exit=False)
                deadline = time.time() + max(0.0, args.time_cap - run_["wall_s"])
                while time.time() < deadline and db.scalar("SELECT state FROM campaign WHERE id = :c",
                                                            c=campaign_id) != "sent":
                    time.sleep(1.0)  # sent: every recipient enqueued and nothing pending (the job's next run)
                ended = time.time()
            return {"recipients": args.recipients, "rate": args.rate, "workers": args.workers,
                    # every consenting customer is in the campaign: the arrivals' shoppers too
                    "audience": args.recipients + arrivals[1] - arrivals[0] + 1,
                    "bare_rate": bare["rps"], "campaign": campaign_outcome(db, campaign_id),
                    "arrivals": db.outcome(*arrivals, ended), "log": log_problems(instance, "W", args.workers),
                    "load": f"{load_start} -> {load_average()}"}
    finally:
        shutil.rmtree(instance, ignore_errors=True)


def print_report(result: dict) -> None:
    campaign, arrivals = result["campaign"], result["arrivals"]
    once = campaign["rows"] == campaign["distinct_customers"] == result["audience"]
    p99_ok = arrivals["p99_s"] < TARGET_P99_S and not arrivals["p99_censored"]
    print(f"campaign of {result['audience']:,} recipients, paced at {result['rate']:g}/s, "
          f"{result['workers']} worker(s); load {result['load']}")
    print(f"  bare loop (the ceiling)        {result['bare_rate']:8.1f} req/s")
    print(f"  campaign drain rate            {campaign['drain_rate']:8.1f} msg/s "
          f"({campaign['drain_rate'] / result['bare_rate']:.0%} of the bare loop) over {campaign['window_s']:.0f} s; "
          f"state {campaign['state']}, {campaign['statuses']}")
    print(f"  one message per recipient      {'PASS' if once else 'FAIL'} ({campaign['rows']:,} rows, "
          f"{campaign['distinct_customers']:,} customers)")
    print(f"  abandoned-cart due-to-sent     p50 {arrivals['p50_s']:.2f} s, p99 {arrivals['p99_s']:.2f} s, "
          f"max {arrivals['max_s']:.2f} s of {arrivals['sent']:,} sent: {'PASS' if p99_ok else 'FAIL'} "
          f"(target p99 < {TARGET_P99_S:g} s)")
    if result["log"][0]:
        print(f"  worker log warnings/errors     {result['log'][0]}: {result['log'][1]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100000)
    parser.add_argument("--rate", type=float, default=150.0, help="CAMPAIGN_SEND_RATE, messages/s (default 150)")
    parser.add_argument("--batch-size", type=int, default=1000, help="CAMPAIGN_BATCH_SIZE (default 1000)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--arrivals-rate", type=float, default=5.0,
                        help="abandoned-cart messages falling due per second meanwhile (default 5)")
    parser.add_argument("--delay", type=float, default=0.1, help="stub answer delay (default 0.1 s)")
    parser.add_argument("--concurrency", type=int, default=32, help="DISPATCH_CONCURRENCY (default 32)")
    parser.add_argument("--bare-requests", type=int, default=3000)
    parser.add_argument("--time-cap", type=float, default=None, help="seconds (default 1500, --quick 400)")
    parser.add_argument("--quick", action="store_true", help="20,000 recipients, 1000 bare requests")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args()
    if args.quick:
        args.recipients, args.bare_requests = 20000, 1000
    if args.time_cap is None:
        args.time_cap = 400.0 if args.quick else 1500.0
    if min(args.recipients, args.workers, args.batch_size, args.concurrency, args.bare_requests) < 1 \
            or min(args.rate, args.arrivals_rate, args.time_cap) <= 0 or args.delay < 0:
        parser.error("sizes, rates and caps must be positive")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds: workers stopped, database dropped
    result = run(args)
    print_report(result)
    if args.json:
        print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
