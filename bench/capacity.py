"""Capacity figures: what one cart report, one planned cart, one sent message and one report query cost, in the app
AND in PostgreSQL (CPU, WAL, statements, stored bytes), for docs/SCALING.md.

Run from the repository root::

    .venv/bin/python bench/capacity.py [--carts 2000] [--messages 3000] [--report-carts 100000]

The other benchmarks time the app against a shared server, whose WAL and CPU mix everyone's work. This one starts a
PostgreSQL cluster of its own (``initdb`` into a temporary folder, 127.0.0.1 and a free port only,
``pg_stat_statements`` preloaded, default durability: fsync and synchronous commit on), so every WAL byte and every
CPU second of the server's processes in a phase is that phase's. The cluster and its folder are removed at the end.

Phases, each measured as deltas around it:

0. baselines, in the same run: one-row ``INSERT`` transactions from one connection (the cheapest durable write:
   what PostgreSQL CPU and WAL a commit costs here), and ``bench/bare_app.py`` under gunicorn (a PUT that parses
   JSON: what the web stack alone costs);
1. cart reports: ``PUT /api/v1/carts/<token>`` under gunicorn ``wsgi:app`` (the load generator of
   ``bench/cart_ingest.py``: half new carts, half updates);
2. abandonment: those carts made due and one ``retainful worker --once`` (sandbox providers): the sweep marks them
   abandoned and plans their sequence (messages per cart printed);
3. messages: ``--messages`` due emails (seeded as ``bench/dispatch.py`` does) sent by one ``retainful worker --once``
   through the SendGrid stub (100 ms answers);
4. shoppers: for each sent message its open pixel and its click, then an order on its cart (recovered: attributed
   to the message), through gunicorn ``wsgi:app``;
5. purge: every cart backdated past retention and one ``worker --once``, whose purge job deletes them with their
   outbox rows (per deleted outbox row: what a retention purge costs, against dropping a partition);
6. reports (``--report-carts`` > 0): a second database seeded like ``bench/reports.py`` (carts, and orders and
   messages in the same proportions as its defaults), every report called ``--runs`` times.

Printed per operation (the worker phases less the cost of an idle ``worker --once``, measured too): app CPU ms
(gunicorn or worker processes), PostgreSQL CPU ms (the postmaster and all its processes, exited backends included),
WAL bytes, SQL statements (pg_stat_statements, BEGIN and COMMIT included), the most client connections open at once
during the phase (the bench's own sampler excluded), and the table bytes per row.
CPU time is used rather than throughput because it moves little when other work shares the machine; the load
average is printed with the figures. The exit status is 0 unless something crashed.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the repository is importable
from bench.cart_ingest import BARE_LABEL, CART_LABEL, cpu_seconds, free_port, gunicorn, load_in_subprocess, \
    process_tree  # noqa: E402
from bench.common import HOST, load_average, retainful  # noqa: E402
from bench.dispatch import SENDGRID_KEY, Database, bench_env, children_cpu_s, drain, stub_process, \
    workers  # noqa: E402

RUN_AS = "postgres"  # initdb refuses root; the cluster then runs as this user


# --------------------------------------------------------------------------------------------------------------------
# A private PostgreSQL cluster


def pg_bin() -> Path:
    found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
    if found.returncode == 0 and (Path(found.stdout.strip()) / "initdb").exists():
        return Path(found.stdout.strip())
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not candidates:
        raise SystemExit("needs PostgreSQL's server binaries (initdb, pg_ctl)")
    return candidates[-1].parent


@contextmanager
def private_cluster():
    """Yield (server URL, postmaster pid) of a fresh cluster; stop it and delete its folder afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="retainful-capacity-pg-"))
    data, port, binaries = folder / "data", free_port(), pg_bin()
    as_user = ["runuser", "-u", RUN_AS, "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(folder, RUN_AS)
    subprocess.run([*as_user, str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                    "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
    options = (f"-c port={port} -c listen_addresses={HOST} -c unix_socket_directories={folder} "
               "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all "
               "-c max_connections=200 -c shared_buffers=256MB")
    subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-o", options,
                    "-w", "start"], check=True, capture_output=True)
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
        yield f"postgresql+psycopg://postgres@{HOST}:{port}", pid
    finally:
        subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def server_cpu_s(postmaster: int) -> float:
    """CPU seconds of the postmaster, of its live processes, and of every process of it that has exited (reaped
    children's times are added to the parent's cutime/cstime)."""
    fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    own = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime, stime, cutime, cstime
    return own + cpu_seconds([p for p in process_tree(postmaster) if p != postmaster])


class Meter:
    """Deltas of server CPU, WAL position and pg_stat_statements calls around a phase."""

    def __init__(self, url: str, postmaster: int):
        import sqlalchemy as sa

        self.sa, self.postmaster = sa, postmaster
        self.engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with self.engine.connect() as conn:
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))

    def _read(self) -> tuple[float, int, int]:
        with self.engine.connect() as conn:
            wal = conn.execute(self.sa.text("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")).scalar_one()
            calls = conn.execute(self.sa.text(
                "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%' "
                "AND query NOT LIKE '%pg_current_wal_lsn%'")).scalar_one()
        return server_cpu_s(self.postmaster), int(wal), int(calls)

    def _connections(self, conn) -> int:
        return conn.execute(self.sa.text("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                                         "AND pid <> pg_backend_pid()")).scalar_one()

    @contextmanager
    def phase(self, result: dict):
        """Deltas around the block, and the most client connections seen open at once (sampled every 0.2 s)."""
        peak, stop = [0], threading.Event()

        def sample() -> None:
            with self.engine.connect() as conn:
                while not stop.wait(0.2):
                    peak[0] = max(peak[0], self._connections(conn))

        sampler = threading.Thread(target=sample, daemon=True)
        cpu, wal, calls = self._read()
        sampler.start()
        try:
            yield
        finally:
            stop.set()
            sampler.join()
        cpu2, wal2, calls2 = self._read()
        result.update(db_cpu_s=cpu2 - cpu, wal_bytes=wal2 - wal, statements=calls2 - calls, connections=peak[0])

    def bytes_per_row(self, table: str) -> tuple[int, float]:
        with self.engine.connect() as conn:
            conn.execute(self.sa.text(f"VACUUM ANALYZE {table}"))
            rows = conn.execute(self.sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            size = conn.execute(self.sa.text(f"SELECT pg_total_relation_size('{table}')")).scalar_one()
        return rows, size / rows if rows else 0.0

    def total_bytes(self, table: str) -> int:
        with self.engine.connect() as conn:
            conn.execute(self.sa.text(f"VACUUM {table}"))
            return conn.execute(self.sa.text(f"SELECT pg_total_relation_size('{table}')")).scalar_one()

    def dispose(self) -> None:
        self.engine.dispose()


def create_database(server: str, name: str) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return f"{server}/{name}"


def new_store(env: dict, *extra: str) -> dict:
    return json.loads([line for line in retainful(env, "create-store", "--name", "Bench", "--domain", "bench.example",
                                                  *extra, "--json").splitlines() if line.startswith("{")][-1])


# --------------------------------------------------------------------------------------------------------------------
# Phases


def commit_baseline(url: str, meter: Meter, n: int) -> dict:
    """``n`` one-row INSERT transactions from one connection: the cheapest durable write on this server."""
    import psycopg

    result = {"label": "baseline: 1-row INSERT + COMMIT", "ops": n}
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS capacity_baseline (id bigserial PRIMARY KEY, at timestamptz, "
                     "note text)")
        conn.commit()
        client = time.process_time()
        with meter.phase(result):
            for i in range(n):
                conn.execute("INSERT INTO capacity_baseline (at, note) VALUES (now(), %s)", (f"row {i}",))
                conn.commit()
        result["app_cpu_s"] = time.process_time() - client
        conn.execute("DROP TABLE capacity_baseline")
        conn.commit()
    return result


def web_phase(label: str, app_spec: str, path: str, headers: dict, env: dict, meter: Meter, args,
              instance: Path) -> dict:
    config = {"requests": args.carts, "warmup": max(4, args.carts // 20), "concurrency": 4, "time_cap": 300.0,
              "run_id": os.urandom(3).hex(), "label": label, "path": path, "headers": headers}
    with gunicorn(app_spec, 2, env, instance / f"gunicorn-{app_spec.split(':')[0]}.log") as (base_url, pid):
        server = process_tree(pid)
        before = cpu_seconds(server)
        result: dict = {"label": label}
        with meter.phase(result):
            load = load_in_subprocess({**config, "base_url": base_url})
        result["app_cpu_s"] = cpu_seconds(server) - before
    result["ops"] = config["warmup"] + load["requests"]
    result["errors"] = load["errors"]
    return result


def worker_phase(label: str, env: dict, db: Database, lo: int, hi: int, meter: Meter, instance: Path,
                 name: str) -> dict:
    result: dict = {"label": label}
    cpu = children_cpu_s()
    with meter.phase(result):
        with workers(1, env, True, instance, name) as procs:
            drain(db, lo, hi, procs, label, 600.0, instance, name)
    result["app_cpu_s"] = children_cpu_s() - cpu
    return result


def idle_worker(url: str, env: dict, meter: Meter, instance: Path) -> dict:
    """``retainful worker --once`` with nothing to do: start-up and one round of every job, subtracted from the
    worker phases so their figures are per operation."""
    db = Database(url)
    try:
        result = worker_phase("baseline: worker --once, nothing due", env, db, 1, 0, meter, instance, "I")
    finally:
        db.engine.dispose()
    result["ops"] = 1
    return result


def less(result: dict, idle: dict) -> dict:
    for key in ("app_cpu_s", "db_cpu_s", "wal_bytes", "statements"):
        result[key] -= idle[key]
    return result


def abandonment_phase(url: str, env: dict, meter: Meter, instance: Path) -> dict:
    db = Database(url)
    try:
        carts = db.scalar("SELECT count(*) FROM cart WHERE status = 'live'")
        messages_before = db.scalar("SELECT count(*) FROM message")
        db.execute("UPDATE cart SET abandon_due_at = now() - interval '1 minute' WHERE status = 'live'")
        result = worker_phase("abandon sweep + planning (per cart)", env, db, 1, 0, meter, instance, "P")
        result["ops"] = carts
        result["planned"] = db.scalar("SELECT count(*) FROM message") - messages_before
        result["abandoned"] = db.scalar("SELECT count(*) FROM cart WHERE status = 'abandoned'")
    finally:
        db.engine.dispose()
    return result


def message_phase(url: str, store_id: int, env: dict, meter: Meter, instance: Path, n: int) -> dict:
    db = Database(url)
    try:
        step_id = db.prepare_store(store_id)
        size_before = meter.total_bytes("message")
        lo, hi = db.seed(store_id, step_id, "cap", n)
        db.make_due(lo, hi)
        with stub_process(0.1, env) as stub:
            worker_env = {**env, "EMAIL_PROVIDER": "sendgrid", "SENDGRID_API_KEY": SENDGRID_KEY,
                          "SENDGRID_API_HOST": stub.base_url}
            result = worker_phase("message sent (email, SendGrid stub)", worker_env, db, lo, hi, meter, instance, "M")
        result["ops"] = db.scalar("SELECT count(*) FROM message WHERE id BETWEEN :lo AND :hi AND status = 'sent'",
                                  lo=lo, hi=hi)
        result["bytes_per_sent"] = (meter.total_bytes("message") - size_before) / n
    finally:
        db.engine.dispose()
    return result


def purge_phase(url: str, env: dict, meter: Meter, instance: Path, idle: dict) -> dict:
    """Every cart backdated past retention, then ``worker --once``: its purge job deletes the carts with their outbox
    (the cascade) and the customers, as a retention purge does every hour. Per deleted outbox row."""
    db = Database(url)
    try:
        db.execute("UPDATE cart SET last_activity_at = now() - interval '3 years'")
        db.execute("UPDATE customer SET last_seen_at = now() - interval '3 years'")
        with meter.engine.connect() as conn:
            conn.execute(meter.sa.text("VACUUM ANALYZE cart, customer"))
        messages = db.scalar("SELECT count(*) FROM message")
        result = less(worker_phase("purge (per deleted outbox row)", env, db, 1, 0, meter, instance, "X"), idle)
        result["ops"] = messages - db.scalar("SELECT count(*) FROM message")
    finally:
        db.engine.dispose()
    return result


def drive(base_url: str, calls: list[tuple[str, str, dict | None]], headers: dict, threads: int = 4) -> int:
    """Make ``calls`` (method, path, JSON body) from ``threads`` threads of this process; the errors (not 2xx/3xx)."""
    import requests

    chunks = [calls[i::threads] for i in range(threads)]
    errors = [0] * threads

    def run(index: int) -> None:
        with requests.Session() as session:
            session.trust_env = False  # 127.0.0.1 only, never through a proxy
            for method, path, body in chunks[index]:
                answer = session.request(method, base_url + path, json=body, headers=headers, timeout=30,
                                         allow_redirects=False)
                errors[index] += not 200 <= answer.status_code < 400

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sum(errors)


def shopper_phases(url: str, env: dict, api_key: str, meter: Meter, instance: Path) -> list[dict]:
    """The requests a sent message brings back, through gunicorn: its open pixel and its click, then an order on its
    cart (recovered, attributed to the message: intake's longest path)."""
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            sent = conn.execute(db.sa.text(
                "SELECT m.link_code, c.token, cu.email FROM message m JOIN cart c ON c.id = m.cart_id "
                "JOIN customer cu ON cu.id = m.customer_id WHERE m.status = 'sent' AND m.link_code IS NOT NULL "
                "ORDER BY m.id")).all()
    finally:
        db.engine.dispose()
    phases = [
        ("open pixel + click (GET /o/<code>.gif, /r/<code>)", {},
         [(m, f"/{kind}/{code}{suffix}", None) for code, _, _ in sent
          for m, kind, suffix in (("GET", "o", ".gif"), ("GET", "r", ""))], 2),
        ("order placed (POST /api/v1/orders, recovered)", {"Authorization": f"Bearer {api_key}"},
         [("POST", "/api/v1/orders", {"order_id": f"cap-{i}", "cart_token": token, "status": "processing",
                                      "total": "75.30", "currency": "USD", "customer": {"email": email}})
          for i, (_, token, email) in enumerate(sent)], 1),
    ]
    results = []
    with gunicorn("wsgi:app", 2, env, instance / "gunicorn-shopper.log") as (base_url, pid):
        server = process_tree(pid)
        drive(base_url, [("GET", "/healthz", None)] * 8, {})  # both workers up and connected before measuring
        for label, headers, calls, per_op in phases:
            before = cpu_seconds(server)
            result: dict = {"label": label}
            with meter.phase(result):
                result["errors"] = drive(base_url, calls, headers)
            result["app_cpu_s"] = cpu_seconds(server) - before
            result["ops"] = len(calls) // per_op
            results.append(result)
    return results


def report_phase(server: str, postmaster: int, env: dict, args, instance: Path) -> dict:
    from bench.reports import TIMEZONE, ReportTimer, Seeder
    from datetime import datetime, timezone

    url = create_database(server, "capacity_reports")
    env = {**env, "DATABASE_URL": url}
    retainful(env, "db", "upgrade")
    store_id = new_store(env, "--timezone", TIMEZONE)["id"]
    sizes = SimpleNamespace(carts=args.report_carts, orders=args.report_carts * 3 // 10,
                            messages=args.report_carts * 14 // 10, chunk=100_000)
    seeder = Seeder(url, store_id, sizes, datetime.now(timezone.utc))
    try:
        seeder.seed()
    finally:
        seeder.dispose()
    meter = Meter(url, postmaster)
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "RETAINFUL_INSTANCE_PATH", "SECRET_KEY")})
    timer = ReportTimer(url, store_id, args.runs, None)
    result: dict = {"label": f"report query (mean of 9 reports, {args.report_carts:,} carts)"}
    try:
        timer.time_all("warm-up")  # the first calls read the tables from disk; production serves them from cache
        client = time.process_time()
        started = time.perf_counter()
        with meter.phase(result):
            timings, _ = timer.time_all("")
        result["wall_s"] = time.perf_counter() - started
        result["app_cpu_s"] = time.process_time() - client
    finally:
        timer.close()
        meter.dispose()
    result["ops"] = sum(len(t.runs) for t in timings)
    result["per_report"] = {f"{t.label} {t.period}": t.median_ms for t in timings}
    return result


# --------------------------------------------------------------------------------------------------------------------


def print_table(rows: list[dict], sizes: dict[str, tuple[int, float]], load_start: str) -> None:
    print()
    print(f"private PostgreSQL cluster (fsync on, synchronous_commit on); load average {load_start} at the start, "
          f"{load_average()} at the end, {os.cpu_count()} CPUs")
    print(f"{'operation':<48}{'ops':>7}{'app CPU ms':>12}{'db CPU ms':>11}{'WAL bytes':>11}{'statements':>12}"
          f"{'peak conns':>12}")
    for row in rows:
        ops = max(1, row["ops"])
        print(f"{row['label']:<48}{row['ops']:>7}{row['app_cpu_s'] / ops * 1000:>12.2f}"
              f"{row['db_cpu_s'] / ops * 1000:>11.2f}{row['wal_bytes'] / ops:>11.0f}{row['statements'] / ops:>12.1f}"
              f"{row['connections']:>12}")
    for row in rows:
        if "planned" in row:
            print(f"abandonment: {row['abandoned']} carts abandoned, {row['planned']} messages planned "
                  f"({row['planned'] / max(1, row['abandoned']):.1f} per cart)")
        if "per_report" in row:
            print("report medians, ms: " + ", ".join(f"{k} {v:.0f}" for k, v in row["per_report"].items())
                  + f"; wall {row['wall_s'] / max(1, row['ops']) * 1000:.0f} ms per call")
        if "bytes_per_sent" in row:
            print(f"outbox growth: {row['bytes_per_sent']:.0f} bytes per sent message (row as sent, its indexes "
                  "and TOAST, after VACUUM)")
        if row.get("errors"):
            print(f"{row['label']}: {row['errors']} errors")
    print("stored, after VACUUM (heap + indexes + TOAST):")
    for table, (rows_, per_row) in sizes.items():
        print(f"  {table:<10}{rows_:>9} rows  {per_row:>8.0f} bytes/row")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--carts", type=int, default=2000, help="measured cart reports (default 2000)")
    parser.add_argument("--messages", type=int, default=3000, help="messages sent (default 3000)")
    parser.add_argument("--commits", type=int, default=2000, help="baseline one-row transactions (default 2000)")
    parser.add_argument("--report-carts", type=int, default=100_000,
                        help="carts seeded for the report phase, 0 skips it (default 100,000)")
    parser.add_argument("--runs", type=int, default=3, help="calls per report (default 3)")
    args = parser.parse_args()
    if min(args.carts, args.messages, args.commits, args.runs) < 1 or args.report_carts < 0:
        parser.error("sizes must be >= 1 (--report-carts >= 0)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    load_start = load_average()
    instance = Path(tempfile.mkdtemp(prefix="retainful-bench-"))
    base_env = bench_env(os.environ)
    try:
        with private_cluster() as (server, postmaster):
            url = create_database(server, "capacity")
            env = {**base_env, "DATABASE_URL": url, "RETAINFUL_INSTANCE_PATH": str(instance), "LOG_LEVEL": "WARNING",
                   "SECRET_KEY": "bench", "PYTHONUNBUFFERED": "1", "EMAIL_PROVIDER": "sandbox",
                   "SMS_PROVIDER": "sandbox"}
            print("private cluster up: applying migrations", file=sys.stderr)
            retainful(env, "db", "upgrade")
            store = new_store(env)
            meter = Meter(url, postmaster)
            try:
                rows = [commit_baseline(url, meter, args.commits),
                        web_phase(f"baseline: {BARE_LABEL}", "bench.bare_app:app", "/bare", {}, env, meter, args,
                                  instance),
                        web_phase(f"cart report ({CART_LABEL})", "wsgi:app", "/api/v1/carts",
                                  {"Authorization": f"Bearer {store['api_key']}"}, env, meter, args, instance)]
                sizes = {"cart": meter.bytes_per_row("cart"), "customer": meter.bytes_per_row("customer")}
                idle = idle_worker(url, env, meter, instance)
                rows += [idle, less(abandonment_phase(url, env, meter, instance), idle),
                         less(message_phase(url, store["id"], env, meter, instance, args.messages), idle)]
                sizes["message"] = meter.bytes_per_row("message")
                rows += shopper_phases(url, env, store["api_key"], meter, instance)
                sizes.update({table: meter.bytes_per_row(table) for table in ("shop_order", "coupon")})
                rows.append(purge_phase(url, env, meter, instance, idle))
            finally:
                meter.dispose()
            if args.report_carts:
                rows.append(report_phase(server, postmaster, env, args, instance))
            print_table(rows, sizes, load_start)
    finally:
        shutil.rmtree(instance, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
