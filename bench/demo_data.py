"""Demo-data benchmark: the CPU and wall time of ``retainful demo-data`` (``retainful.demo.generate``) beside a
baseline measured in the same run, since these machines are noisy.

Run from the repository root (``make bench-demo`` does this)::

    .venv/bin/python bench/demo_data.py [--days 90] [--seed 1] [--postgres] [--repeat 1] [--json]

What it does, in one process:

1. a scratch database: an SQLite file by default; with ``--postgres`` (or ``BENCH_POSTGRES=1``) a database
   ``retainful_bench_<random>`` on ``BENCH_DATABASE_URL`` (default the local server), dropped afterwards; migrated,
   with a store in New York time;
2. the baseline: ``--baseline-rows`` ORM round trips through the app's own session and engine (insert one row,
   commit, read it back), the bread and butter of the simulation, into a table of its own dropped afterwards;
3. the demo history for ``--days`` with the clock frozen at a fixed moment, ``--repeat`` times (``--replace`` from
   the second on): CPU (the whole process, threads included) and wall time of each, and what was made.

It prints each figure and the demo's CPU time in baselines (the figure to compare between machines and commits):
the same seed must make the same counts every time.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the repository is importable
from bench.common import DEFAULT_SERVER, load_average, scratch_database  # noqa: E402

FROZEN_AT = datetime(2026, 11, 20, 15, 37, 12, tzinfo=timezone.utc)  # a Friday afternoon: the same days every run


def timed(work) -> tuple[float, float, object]:
    """(CPU seconds of the whole process, wall seconds, what ``work`` returned)."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = work()
    return time.process_time() - cpu, time.perf_counter() - wall, result


def baseline(db, rows: int) -> tuple[float, float]:
    """``rows`` times: one row inserted and committed through the session, then read back by its key."""
    import sqlalchemy as sa

    table = sa.Table("bench_demo_baseline", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("at", sa.DateTime(timezone=True)), sa.Column("note", sa.String(40)))
    table.create(db.engine)
    try:
        def work():
            for i in range(rows):
                new_id = db.session.execute(sa.insert(table).values(at=FROZEN_AT, note=f"row {i}")
                                            .returning(table.c.id)).scalar_one()
                db.session.commit()
                db.session.execute(sa.select(table.c.note).where(table.c.id == new_id)).scalar_one()
            db.session.commit()
        cpu, wall, _ = timed(work)
    finally:
        db.session.remove()
        table.drop(db.engine)
    return cpu, wall


def run(args, database_url: str) -> dict:
    import logging

    from flask_migrate import upgrade

    from retainful import clock, create_app, demo
    from retainful.extensions import db
    from retainful.models import Store
    from retainful.stores import create_store

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "bench"})
    with app.app_context():
        logging.disable(logging.INFO)  # the migrations' log lines (their env.py configures logging anew)
        try:
            upgrade()
        finally:
            logging.disable(logging.NOTSET)
        logging.getLogger("retainful").setLevel(logging.WARNING)  # as the CLI does: a line per dispatch round
        store_id = create_store("Demo Store", "shop.example.com", timezone="America/New_York").store.id
        base_cpu, base_wall = baseline(db, args.baseline_rows)
        runs = []
        with clock.restored():
            for attempt in range(args.repeat):
                clock.freeze(FROZEN_AT)
                cpu, wall, made = timed(lambda: demo.generate(db.session.get(Store, store_id), days=args.days,
                                                              seed=args.seed, replace=attempt > 0))
                runs.append({"cpu_s": cpu, "wall_s": wall, "made": made})
                print(f"  run {attempt + 1}: {cpu:.1f} s CPU, {wall:.1f} s wall", file=sys.stderr)
        db.session.remove()
        db.engine.dispose()
    return {"database": database_url.split(":", 1)[0], "days": args.days, "seed": args.seed,
            "baseline_rows": args.baseline_rows, "baseline_cpu_s": base_cpu, "baseline_wall_s": base_wall,
            "runs": runs}


def print_report(result: dict, also_json: bool) -> None:
    runs = result["runs"]
    cpu = statistics.median(r["cpu_s"] for r in runs)
    wall = statistics.median(r["wall_s"] for r in runs)
    same = all(r["made"] == runs[0]["made"] for r in runs)
    print(f"demo-data --days {result['days']} --seed {result['seed']} on {result['database']}; "
          f"load {result['load']}")
    print(f"  baseline: {result['baseline_rows']:,} ORM insert+commit+select  "
          f"{result['baseline_cpu_s']:6.2f} s CPU {result['baseline_wall_s']:7.2f} s wall")
    print(f"  demo history (median of {len(runs)})              {cpu:6.2f} s CPU {wall:7.2f} s wall  "
          f"= {cpu / result['baseline_cpu_s']:.1f} baselines of CPU")
    print(f"  made: {', '.join(f'{n} {k}' for k, n in runs[0]['made'].items())}")
    if len(runs) > 1:
        print(f"  the same seed, the same counts on every run: {'PASS' if same else 'FAIL'}")
    if also_json:
        print(json.dumps(result, default=str))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help="demo runs, the later ones with --replace (default 1)")
    parser.add_argument("--baseline-rows", type=int, default=3000, help="baseline round trips (default 3000)")
    parser.add_argument("--postgres", action="store_true", default=os.environ.get("BENCH_POSTGRES") == "1",
                        help="a scratch PostgreSQL database on BENCH_DATABASE_URL instead of an SQLite file")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args()
    if args.days < 2 or args.repeat < 1 or args.baseline_rows < 1:
        parser.error("--days must be at least 2, --repeat and --baseline-rows at least 1")
    instance = Path(tempfile.mkdtemp(prefix="retainful-bench-"))
    os.environ.setdefault("RETAINFUL_INSTANCE_PATH", str(instance))
    load_start = load_average()
    try:
        with ExitStack() as stack:
            if args.postgres:
                url = stack.enter_context(scratch_database(os.environ.get("BENCH_DATABASE_URL") or DEFAULT_SERVER))
            else:
                url = f"sqlite:///{instance / 'demo.sqlite3'}"
            result = run(args, url)
    finally:
        shutil.rmtree(instance, ignore_errors=True)
    result["load"] = f"{load_start} -> {load_average()}"
    print_report(result, also_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
