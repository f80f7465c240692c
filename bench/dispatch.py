"""Dispatch benchmark: the outbox worker sending email through a SendGrid stub that answers after 100 ms.

Run from the repository root (``make bench-dispatch`` does this)::

    .venv/bin/python bench/dispatch.py [--messages 20000] [--backlog 100000] [--backlog-delay 0.1] [--quick]

What it does, in one run (about 15 minutes by default, about 2 with ``--quick``):

1. creates a scratch database ``retainful_bench_<random>`` on the PostgreSQL server (``BENCH_DATABASE_URL``, default
   ``postgresql+psycopg://postgres@127.0.0.1:5432/test``), applies the migrations with ``retainful db upgrade``,
   creates a store with ``retainful create-store --json`` and sets its ``email_cap_hours`` to 0 (so the frequency
   cap does not skip bulk messages), then seeds every phase's messages with bulk SQL: one customer with a distinct
   email and one abandoned 3-line cart per message, each message step 1 of the store's sequence, email, scheduled;
2. serves ``tests.stubs.ProviderStub`` (SendGrid's wire format, ``--delay`` 0.1 s before every answer) from its own
   process on 127.0.0.1;
3. phase A, the ceiling: a bare loop of ``DISPATCH_CONCURRENCY`` threads (one ``requests.Session`` each) posting a
   SendGrid-shaped JSON body to the stub, from a separate process: requests/s;
4. phase B, throughput: ``--messages`` emails made due at once, then ONE ``retainful worker --once``
   (EMAIL_PROVIDER=sendgrid pointed at the stub, the same DISPATCH_CONCURRENCY): messages/s over the
   first-to-last ``sent_at`` window (the rate over the worker process's wall time, start-up included, is printed
   beside it), and the worker's CPU per message; then the same with ``--scale-workers`` (default 2) workers at once
   on a fresh batch: messages/s per worker, and their rate against one worker's (target >= 1.8 for two). Every
   phase also accounts for CPU: the workers' (user + system, from their rusage), their PostgreSQL backends' (from
   ``/proc/<pid>/stat``, sampled every second) per message, and the machine's idle cores (``/proc/stat``), so a
   run limited by the 2 cores it shares with PostgreSQL shows it;
5. phase L, latency: the long-running ``retainful worker`` (woken by PostgreSQL's NOTIFY when a message is written
   scheduled and at the next due time it knows of, see DESIGN "Waking the worker") while messages fall due at a
   steady ``--latency-rate`` (default 150/s, the throughput target) for ``--latency-seconds``: due-to-sent delay
   (``sent_at - due_at``, from the database) p50/p99 against the 2 s target. A burst in which every message is due
   at the same instant cannot meet a p99 target (its p99 is the drain time), so the bursts' delays are printed for
   information only;
6. phase C, memory: a ``--backlog`` of due messages drained by one ``retainful worker --once`` against a stub of its
   own that answers after ``--backlog-delay`` seconds (default 0.1; at concurrency 32 that caps the drain near
   300/s, so lower it for a faster drain); the worker's RSS is sampled every second (psutil when installed, else
   ``/proc/<pid>/status``): at the first send, at 10/25/50/75% of the drain, peak, end;
7. prints a table and PASS/FAIL for every target: >= 150 messages/s per worker, >= 70% of the bare loop,
   two workers >= 1.8 x one, p99 due-to-sent < 2 s, worker RSS < 250 MB and flat (peak - RSS at 10% of the backlog < 50 MB). The exit status
   is 0 whether or not the targets are met; it is non-zero only when something crashed.

Every phase has a time cap (``--time-cap``, ``--scale-cap``, ``--latency-grace``, ``--backlog-cap``) so a slow
dispatcher cannot make the run endless: a stopped phase reports the rate of what it sent, counts still-unsent due
messages in the delay percentiles with ``end - due_at`` (shown as ``>``, a lower bound), and fails the memory targets
if the backlog did not drain. With ``--compare PATH`` (a checkout of another revision, e.g. ``git worktree add
/tmp/main main``) phase B also runs that revision's worker on a batch of its own, in the same run and database, and
prints its CPU per message beside this one's. Workers and stubs run as separate processes and are stopped at the end
(SIGTERM: a worker finishes its sends in flight and releases what it claimed); the
scratch database is dropped even when the run fails. Only 127.0.0.1 is ever contacted (proxy settings are dropped).
The figures are only as quiet as the machine: the load average at the start and end is printed with them.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the repository is importable
from bench.common import (  # noqa: E402
    BIN, DEFAULT_SERVER, HOST, REPO, load_average, migrated_store, percentile, scratch_database, split)


TARGET_PER_WORKER = 150.0  # messages/s per worker
TARGET_RATIO = 0.70  # worker throughput / bare loop throughput at the same concurrency
TARGET_P99_S = 2.0  # due-to-sent
TARGET_SCALE = 1.8  # two workers' throughput / one worker's
TARGET_RSS_MB = 250.0
TARGET_RSS_GROWTH_MB = 50.0  # peak RSS minus RSS at 10% of the backlog

SENDGRID_KEY = "SG.bench"
BENCH_APPLICATION = "retainful-bench"  # the bench's own connections, left out of the PostgreSQL CPU accounting
BARE_CONTENT_BYTES = 12000  # text + HTML of the bare loop's body; the report prints the real messages' average
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def local_only_env(env: dict) -> dict:
    """``env`` without proxies, so urllib (the SendGrid SDK) and requests go straight to 127.0.0.1."""
    env = {k: v for k, v in env.items() if k not in PROXY_VARIABLES}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def bench_env(env: dict) -> dict:
    """``local_only_env`` without the caller's provider, dispatch and environment settings: a bench sets its own."""
    env = local_only_env(env)
    for key in [k for k in env if k.startswith(("SENDGRID_", "VONAGE_", "DISPATCH_", "EMAIL_", "SMS_"))]:
        env.pop(key)
    env.pop("RETAINFUL_ENV", None)
    return env


# --------------------------------------------------------------------------------------------------------------------
# The provider stub: runs in its own process (this file with --stub), so its threads never compete for the GIL with
# the load generator or the bench's own polling. Protocol: one JSON line {"base_url": ...} on stdout once it listens;
# then each "count" line on stdin is answered with {"requests": n, "errors": n}; EOF on stdin stops it.


def serve_stub(delay: float) -> int:
    from tests.stubs import ProviderStub

    stub = ProviderStub(delay=delay).start()
    seen = 0
    stop = threading.Event()

    def forget() -> None:
        """The stub records every request; keep a count and drop the records so a 100,000-send run stays small."""
        nonlocal seen
        while not stop.wait(1.0):
            with stub._lock:  # noqa: SLF001 - count and clear atomically, no request lost between the two
                seen += len(stub._requests)  # noqa: SLF001
                stub._requests.clear()  # noqa: SLF001

    threading.Thread(target=forget, daemon=True).start()
    print(json.dumps({"base_url": stub.base_url}), flush=True)
    try:
        for line in sys.stdin:
            if line.strip() == "count":
                with stub._lock:  # noqa: SLF001
                    total = seen + len(stub._requests)  # noqa: SLF001
                print(json.dumps({"requests": total, "errors": stub.errors}), flush=True)
    finally:
        stop.set()
        stub.close()
    return 0


class StubProcess:
    def __init__(self, proc: subprocess.Popen, base_url: str, delay: float):
        self.proc, self.base_url, self.delay = proc, base_url, delay

    def count(self) -> dict:
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())


@contextmanager
def stub_process(delay: float, env: dict):
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--stub", "--delay", str(delay)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO, env=env)
    try:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the provider stub did not start (exit {proc.wait()})")
        base_url = json.loads(line)["base_url"]
        if not base_url.startswith(f"http://{HOST}:"):
            raise RuntimeError(f"the stub must listen on {HOST}: {base_url}")
        yield StubProcess(proc, base_url, delay)
    finally:
        stop_process(proc, close_stdin=True)


def stop_process(proc: subprocess.Popen, close_stdin: bool = False, sig: int = signal.SIGTERM) -> None:
    """Stop a child we started: polite first (EOF / ``sig``), then kill after 15 s."""
    if proc.poll() is None:
        try:
            if close_stdin and proc.stdin:
                proc.stdin.close()
                proc.wait(timeout=10)
            else:
                proc.send_signal(sig)
                proc.wait(timeout=15)
        except (subprocess.TimeoutExpired, BrokenPipeError, OSError):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for stream in (proc.stdin, proc.stdout):
        if stream:
            try:
                stream.close()
            except OSError:
                pass


# --------------------------------------------------------------------------------------------------------------------
# Phase A, the bare loop: runs in its own process (this file with --bare-loop, config on stdin), prints JSON on stdout.


def sendgrid_body(n: int, content_bytes: int = BARE_CONTENT_BYTES) -> dict:
    """A Mail Send v3 body shaped like the ones ``build_mail`` makes for a 3-line cart, its HTML padded with a
    layout-like table so text + HTML come to about ``content_bytes`` (the default templates' size)."""
    lines = ["1 x Red enamel mug", "2 x Loose-leaf tea sampler", "1 x Stovetop kettle, 1.2 l"]
    link = "http://127.0.0.1:5000/r/" + "x" * 12
    unsubscribe = "http://127.0.0.1:5000/unsubscribe/" + "x" * 40
    text = "\n".join(["Hi Bench,", "", "You left these in your cart:", *lines, "Total: $75.30 USD", "",
                      f"Complete your order: {link}", "", "Bench, bench.example", f"Unsubscribe: {unsubscribe}"])
    html = ("<p>Hi Bench,</p><p>You left these in your cart:</p><ul>"
            + "".join(f"<li>{line.replace(' x ', ' &times; ', 1)}</li>" for line in lines)
            + f"</ul><p>Total: $75.30 USD</p><p><a href=\"{link}\">Complete your order</a></p>"
            f"<p style=\"font-size:12px\">Bench, bench.example &middot; <a href=\"{unsubscribe}\">Unsubscribe</a></p>")
    filler = '<tr><td style="padding:0 24px;font-family:Helvetica,Arial,sans-serif;font-size:14px;color:#333">' \
             '&nbsp;</td></tr>'
    html += filler * max(0, (content_bytes - len(text) - len(html)) // len(filler))
    return {
        "from": {"email": "no-reply@bench.example", "name": "Bench"},
        "subject": "You left something in your cart at Bench",
        "personalizations": [{"to": [{"email": f"shopper-{n}@bench.example", "name": "Bench"}]}],
        "content": [{"type": "text/plain", "value": text}, {"type": "text/html", "value": html}],
        "headers": {"List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
        "categories": ["abandoned_cart"],
        "custom_args": {"message_id": str(n)},
    }


def run_bare_loop(config: dict) -> dict:
    import requests
    from tqdm import tqdm

    url = f"{config['base_url']}/v3/mail/send"
    if not url.startswith(f"http://{HOST}:"):
        raise SystemExit(f"refusing to load anything but {HOST}: {url}")
    concurrency = config["concurrency"]
    headers = {"Authorization": f"Bearer {SENDGRID_KEY}", "Content-Type": "application/json"}
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    failure: list[BaseException] = []

    def worker(index: int, count: int, measured: bool, bar) -> None:
        session = requests.Session()
        session.trust_env = False  # no proxies: 127.0.0.1 only
        try:
            for n in range(count):
                body = json.dumps(sendgrid_body(index * 1_000_000 + n))
                started = time.perf_counter()
                try:
                    response = session.post(url, data=body, headers=headers, timeout=10)
                    ok = response.status_code == 202 and bool(response.headers.get("X-Message-Id"))
                    error = None if ok else f"HTTP {response.status_code}"
                except requests.RequestException as exc:
                    error = repr(exc)
                elapsed = time.perf_counter() - started
                if measured:
                    with lock:
                        if error is None:
                            latencies.append(elapsed)
                        elif len(errors) < 1000:
                            errors.append(error)
                        bar.update(1)
        except BaseException as exc:  # a crash, surfaced by the main thread
            failure.append(exc)
        finally:
            session.close()

    def run(counts: list[int], measured: bool, bar) -> float:
        started = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(i, counts[i], measured, bar), daemon=True)
                   for i in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failure:
            raise failure[0]
        return time.perf_counter() - started

    run([2] * concurrency, False, None)  # warm-up: imports, first connections
    with tqdm(total=config["requests"], desc="A bare requests loop", unit="req", file=sys.stderr, leave=True,
              mininterval=0.5, dynamic_ncols=True) as bar:
        cpu = time.process_time()
        wall = run(split(config["requests"], concurrency), True, bar)
        cpu = time.process_time() - cpu
    latencies.sort()
    sample = sendgrid_body(0)["content"]
    return {"content_bytes": sum(len(part["value"]) for part in sample), "cpu_s": cpu, "requests": len(latencies),
            "errors": len(errors), "error_samples": errors[:5], "wall_s": wall,
            "rps": len(latencies) / wall if wall > 0 else 0.0,
            "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000}


def bare_loop_in_subprocess(config: dict, env: dict) -> dict:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--bare-loop"], input=json.dumps(config),
                          stdout=subprocess.PIPE, text=True, cwd=REPO, env=env, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"the bare loop failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------------------------------
# Seeding


CART_LINES = [
    {"product_id": product_id, "sku": sku, "name": name, "quantity": quantity, "price": price,
     "image_url": f"https://bench.example/img/{sku.lower()}.jpg",
     "product_url": f"https://bench.example/p/{product_id}"}
    for product_id, sku, name, quantity, price in (("1001", "MUG-RED", "Red enamel mug", 1, "12.50"),
                                                   ("2040", "TEA-SAMP", "Loose-leaf tea sampler", 2, "8.00"),
                                                   ("3307", "KETTLE-S", "Stovetop kettle, 1.2 l", 1, "39.90"))
]
SEED_SQL = """
WITH cu AS (
    INSERT INTO customer (store_id, external_id, email, first_name, last_name, locale, email_consent,
                          email_consent_at, email_consent_source, last_seen_at, created_at)
    SELECT :store_id, :tag || '-' || g, 'shopper-' || :tag || '-' || g || '@bench.example', 'Bench', 'Shopper',
           'en_US', true, now() - interval '1 hour', 'checkout', now() - interval '1 hour', now() - interval '1 hour'
    FROM generate_series(1, :n) AS g
    RETURNING id, external_id
), ca AS (
    INSERT INTO cart (store_id, token, customer_id, status, currency, subtotal, total, item_count, lines, recovery_url,
                      reachable, last_activity_at, abandon_due_at, abandoned_at, lost_due_at, created_at)
    SELECT :store_id, cu.external_id, cu.id, 'abandoned', 'USD', 70.35, 75.30, 4, CAST(:lines AS json),
           'https://bench.example/cart', true, now() - interval '1 hour', NULL, now() - interval '45 minutes',
           now() + interval '8 days', now() - interval '1 hour'
    FROM cu
    RETURNING id, customer_id
)
INSERT INTO message (store_id, cart_id, customer_id, step_id, kind, channel, status, due_at, attempts,
                     created_at, updated_at)
SELECT :store_id, ca.id, ca.customer_id, :step_id, 'abandoned_cart', 'email', 'scheduled',
       now() + interval '1 day', 0, now(), now()
FROM ca
RETURNING id
"""


class Database:
    def __init__(self, url: str):
        import sqlalchemy as sa

        self.sa = sa
        self.engine = sa.create_engine(url, pool_size=2, connect_args={"application_name": BENCH_APPLICATION})
        self.autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")

    def scalar(self, sql: str, **params):
        with self.engine.connect() as conn:
            return conn.execute(self.sa.text(sql), params).scalar_one()

    def execute(self, sql: str, **params) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.sa.text(sql), params)

    def prepare_store(self, store_id: int) -> int:
        """Let the frequency cap through (bulk messages to distinct customers); return the id of sequence step 1."""
        self.execute("UPDATE store SET email_cap_hours = 0, postal_address = '1 Bench Street, Testville' "
                     "WHERE id = :s", s=store_id)
        return self.scalar("SELECT step.id FROM step JOIN sequence ON sequence.id = step.sequence_id "
                           "WHERE step.store_id = :s AND sequence.kind = 'abandoned_cart' AND step.position = 1",
                           s=store_id)

    def seed(self, store_id: int, step_id: int, tag: str, n: int) -> tuple[int, int]:
        """``n`` customers, abandoned carts and scheduled step-1 emails, due tomorrow; returns their id range."""
        print(f"seeding {n} messages ({tag})", file=sys.stderr)
        with self.engine.begin() as conn:
            ids = [row[0] for row in conn.execute(self.sa.text(SEED_SQL),
                                                  {"store_id": store_id, "step_id": step_id, "tag": tag, "n": n,
                                                   "lines": json.dumps(CART_LINES)})]
        lo, hi = min(ids), max(ids)
        if hi - lo + 1 != n:
            raise RuntimeError(f"expected {n} contiguous message ids, got {lo}..{hi}")
        with self.autocommit.connect() as conn:  # fresh statistics, so the claim query plans like production
            conn.execute(self.sa.text("VACUUM ANALYZE message, cart, customer"))
        return lo, hi

    def retire(self, ids: tuple[int, int] | None) -> None:
        """Messages a finished phase left pending (time cap, lost lease) must not leak into the next one's figures."""
        if ids:
            self.execute("UPDATE message SET status = 'cancelled', lease_owner = NULL, lease_until = NULL "
                         "WHERE id BETWEEN :lo AND :hi AND status IN ('scheduled', 'sending')", lo=ids[0], hi=ids[1])

    def backend_pids(self) -> list[int]:
        """The server processes serving this database's clients other than the bench itself (the workers')."""
        with self.engine.connect() as conn:
            return list(conn.execute(self.sa.text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name <> :me "
                "AND backend_type = 'client backend'"), {"me": BENCH_APPLICATION}).scalars())

    def spare_connections(self) -> int:
        return self.scalar("SELECT current_setting('max_connections')::int - count(*) FROM pg_stat_activity")

    def wait_for_connections(self, workers: int, concurrency: int, timeout: float = 180.0) -> None:
        """On a shared server, wait (up to ``timeout``) until the workers' connections fit: each may open one per
        dispatch thread plus one for the claim loop, and "too many clients" would crash a worker."""
        needed = workers * (concurrency + 1) + 2
        deadline = time.monotonic() + timeout
        spare = self.spare_connections()
        if spare < needed:
            print(f"waiting for {needed} spare connections on the server ({spare} now)", file=sys.stderr)
            while spare < needed and time.monotonic() < deadline:
                time.sleep(2.0)
                spare = self.spare_connections()
            if spare < needed:
                print(f"warning: only {spare} spare connections; starting anyway", file=sys.stderr)

    def make_due(self, lo: int, hi: int, start_epoch: float | None = None, rate: float | None = None) -> None:
        """All due now (``rate`` None), or the n-th message due at ``start_epoch + n / rate``."""
        if rate is None:
            self.execute("UPDATE message SET due_at = clock_timestamp() WHERE id BETWEEN :lo AND :hi", lo=lo, hi=hi)
        else:
            self.execute("UPDATE message SET due_at = to_timestamp(:t0) + (id - :lo) / :rate * interval '1 second' "
                         "WHERE id BETWEEN :lo AND :hi", lo=lo, hi=hi, t0=start_epoch, rate=float(rate))

    def finished(self, lo: int, hi: int) -> int:
        return self.scalar("SELECT count(*) FROM message WHERE id BETWEEN :lo AND :hi "
                           "AND status NOT IN ('scheduled', 'sending')", lo=lo, hi=hi)

    def outcome(self, lo: int, hi: int, end: float) -> dict:
        """Counts by status, the sent_at window, and due-to-sent percentiles.

        Messages still pending when the phase ended (time cap) count with ``end - due_at``, a lower bound of their
        delay, so a worker that falls behind cannot look fast by leaving its slowest messages out.
        """
        params = {"lo": lo, "hi": hi, "end": end}
        delay = "extract(epoch FROM coalesce(sent_at, greatest(to_timestamp(:end), due_at)) - due_at)"
        with self.engine.connect() as conn:
            statuses = {f"{status}{':' + reason if reason else ''}": count for status, reason, count in conn.execute(
                self.sa.text("SELECT status, skip_reason, count(*) FROM message WHERE id BETWEEN :lo AND :hi "
                             "GROUP BY 1, 2 ORDER BY 1, 2"), params)}
            row = conn.execute(self.sa.text(
                "SELECT count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status <> 'sent'), "
                "extract(epoch FROM min(sent_at)), extract(epoch FROM max(sent_at)), "
                f"percentile_disc(0.5) WITHIN GROUP (ORDER BY {delay}), "
                f"percentile_disc(0.99) WITHIN GROUP (ORDER BY {delay}), max({delay}) "
                "FROM message WHERE id BETWEEN :lo AND :hi "
                "AND (status = 'sent' OR status IN ('scheduled', 'sending') AND due_at <= to_timestamp(:end))"),
                params).one()
            body_bytes = conn.execute(self.sa.text(
                "SELECT avg(octet_length(body_html) + octet_length(body_text)) FROM message "
                "WHERE id BETWEEN :lo AND :hi AND status = 'sent'"), params).scalar_one()
            errors = [e for (e,) in conn.execute(self.sa.text(
                "SELECT DISTINCT error FROM message WHERE id BETWEEN :lo AND :hi AND error IS NOT NULL LIMIT 3"),
                params)]
        sent, pending, first, last, p50, p99, worst = row
        counted = sent + pending
        window = float(last) - float(first) if sent > 1 else 0.0
        return {"planned": hi - lo + 1, "sent": sent, "pending_due": pending, "statuses": statuses, "errors": errors,
                "body_bytes": float(body_bytes or 0),
                "window_s": window, "window_rate": sent / window if window > 0 else 0.0,
                "p50_s": float(p50 or 0), "p99_s": float(p99 or 0), "max_s": float(worst or 0),
                # the percentile is only a lower bound when it may fall on a still-pending message
                "p50_censored": pending > 0.50 * counted, "p99_censored": pending > 0.01 * counted}


# --------------------------------------------------------------------------------------------------------------------
# Workers and RSS


def rss_mb(pid: int) -> float | None:
    try:
        import psutil
    except ImportError:
        psutil = None
    try:
        if psutil is not None:
            return psutil.Process(pid).memory_info().rss / 2**20
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, LookupError):
        return None
    except Exception:  # psutil.NoSuchProcess and friends
        return None
    return None


@contextmanager
def workers(count: int, env: dict, once: bool, log_dir: Path, name: str, source: Path = REPO):
    """Start ``count`` ``retainful worker [--once]`` processes running the code in ``source`` (this checkout, or
    another revision's for ``--compare``); yield them; stop any still running afterwards."""
    procs: list[subprocess.Popen] = []
    if source != REPO:
        env = {**env, "PYTHONPATH": str(source)}  # ahead of the venv's editable install of this checkout
    try:
        for i in range(count):
            with open(log_dir / f"{name}-{i}.log", "w") as log:
                procs.append(subprocess.Popen([str(BIN / "retainful"), "worker", *(["--once"] if once else [])],
                                              env=env, cwd=source, stdout=log, stderr=subprocess.STDOUT))
        yield procs
    finally:
        for proc in procs:
            # SIGTERM: the worker stops claiming, finishes its sends in flight and releases the rest; whatever is
            # left pending is retired by the bench before the next phase.
            stop_process(proc)


def worker_log(log_dir: Path, name: str, i: int) -> str:
    text = (log_dir / f"{name}-{i}.log").read_text(errors="replace")
    return text[-3000:]


def log_problems(log_dir: Path, name: str, count: int) -> tuple[int, list[str]]:
    """How many WARNING/ERROR lines the phase's workers logged, and a few distinct ones with the exceptions that
    ended their tracebacks (the logs are deleted with the instance folder)."""
    problems, samples = 0, []
    for i in range(count):
        path = log_dir / f"{name}-{i}.log"
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            if " WARNING " in line or " ERROR " in line or " CRITICAL " in line:
                problems += 1
                line = line.split(" ", 2)[-1]  # without the timestamp, so repeats look alike
            elif not re.match(r"^[\w.]+(Error|Exception|Warning|Exit)\b", line):
                continue
            line = re.sub(r"\d+", "N", line)[:240]
            if line not in samples and len(samples) < 4:
                samples.append(line)
    return problems, samples


def children_cpu_s() -> float:
    """User + system CPU seconds of every child process waited for so far (the workers, once they exit)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of any process (``/proc/<pid>/stat`` fields 14 and 15), None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return None


def machine_cpu() -> tuple[float, float]:
    """(idle, total) jiffies of the whole machine so far, from ``/proc/stat`` (idle includes iowait)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return 0.0, 0.0
    return float(values[3] + values[4]), float(sum(values[:8]))


class CpuAccounting:
    """Where a phase's CPU went: the workers' (their rusage, once they exit), their PostgreSQL backends' (sampled
    from /proc every second: the last reading of each backend, so up to a second of each is missed), and how many
    of the machine's cores sat idle meanwhile (other tenants of the machine included)."""

    def __init__(self, db: Database):
        self.db = db
        self.children = children_cpu_s()
        self.machine = machine_cpu()
        self.backends: dict[int, float] = {}

    def sample(self) -> None:
        for pid in self.db.backend_pids():
            cpu = process_cpu_s(pid)
            if cpu is not None:
                self.backends[pid] = cpu

    def result(self) -> dict:
        idle, total = machine_cpu()
        idle_share = (idle - self.machine[0]) / (total - self.machine[1]) if total > self.machine[1] else math.nan
        return {"cpu_s": children_cpu_s() - self.children, "pg_cpu_s": sum(self.backends.values()),
                "idle_cores": idle_share * (os.cpu_count() or 1)}


def drain(db: Database, lo: int, hi: int, procs: list[subprocess.Popen], label: str, time_cap: float,
          log_dir: Path, name: str, sample_rss: bool = False, until_exit: bool = True,
          cpu: CpuAccounting | None = None) -> dict:
    """Follow a phase until its workers exit (``--once``), or every message is done (long-running workers), or
    ``time_cap`` seconds have passed; with ``sample_rss``, sample the first worker's RSS every second."""
    from tqdm import tqdm

    total = hi - lo + 1
    started = time.time()
    samples: list[tuple[float, int, float]] = []  # (seconds since start, messages done, RSS MB)
    timed_out = False
    with tqdm(total=total, desc=label, unit="msg", file=sys.stderr, leave=True, mininterval=0.5,
              dynamic_ncols=True) as bar:
        while True:
            rss = rss_mb(procs[0].pid) if sample_rss and procs[0].poll() is None else None
            done = db.finished(lo, hi)
            if cpu is not None:
                cpu.sample()
            bar.update(done - bar.n)
            if rss is not None:
                samples.append((time.time() - started, done, rss))
            running = [p for p in procs if p.poll() is None]
            if not running or (not until_exit and done >= total):
                break
            if time.time() - started > time_cap:
                timed_out = True
                break
            time.sleep(1.0)
    ended = time.time()
    for i, proc in enumerate(procs):
        if proc.poll() is not None and proc.returncode != 0:
            raise RuntimeError(f"{name} worker {i} exited with {proc.returncode}:\n{worker_log(log_dir, name, i)}")
    if not until_exit and not timed_out and any(p.poll() is not None for p in procs):
        raise RuntimeError(f"the long-running {name} worker exited:\n{worker_log(log_dir, name, 0)}")
    return {"wall_s": ended - started, "ended": ended, "timed_out": timed_out, "samples": samples}


def throughput_phase(db: Database, ids: tuple[int, int], worker_count: int, env: dict, args, log_dir: Path,
                     name: str, source: Path = REPO) -> dict:
    """Everything due at once, ``worker_count`` x ``retainful worker --once`` (of the code in ``source``)."""
    lo, hi = ids
    db.wait_for_connections(worker_count, args.concurrency)
    db.make_due(lo, hi)
    cpu = CpuAccounting(db)
    with workers(worker_count, env, True, log_dir, name, source) as procs:
        run = drain(db, lo, hi, procs, f"{name} {worker_count} worker{'s' * (worker_count > 1)} --once",
                    args.time_cap if worker_count == 1 else args.scale_cap, log_dir, name, cpu=cpu)
    result = {**db.outcome(lo, hi, run["ended"]), **run, "workers": worker_count,
              "log": log_problems(log_dir, name, worker_count), **cpu.result()}
    result["wall_rate"] = result["sent"] / run["wall_s"] if run["wall_s"] > 0 else 0.0
    result["per_worker"] = result["window_rate"] / worker_count
    return result


def latency_phase(db: Database, ids: tuple[int, int], env: dict, args, log_dir: Path) -> dict:
    """Messages falling due at a steady rate while the long-running worker runs (woken by the due times it learns
    from the NOTIFY of the UPDATE below and from the outbox, not by a 5 s poll)."""
    lo, hi = ids
    db.wait_for_connections(1, args.concurrency)
    cpu = CpuAccounting(db)
    with workers(1, env, False, log_dir, "L") as procs:
        start = time.time() + 2.0  # the first message falls due 2 s after the worker was launched
        db.make_due(lo, hi, start, args.latency_rate)
        run = drain(db, lo, hi, procs, f"L {args.latency_rate:.0f}/s falling due, worker", 2.0 +
                    args.latency_seconds + args.latency_grace, log_dir, "L", until_exit=False, cpu=cpu)
    return {**db.outcome(lo, hi, run["ended"]), **run, "workers": 1, "log": log_problems(log_dir, "L", 1),
            **cpu.result()}


def memory_phase(db: Database, ids: tuple[int, int], env: dict, args, log_dir: Path) -> dict:
    """A backlog, all due, drained by one ``retainful worker --once`` whose RSS is sampled every second."""
    lo, hi = ids
    db.wait_for_connections(1, args.concurrency)
    db.make_due(lo, hi)
    cpu = CpuAccounting(db)
    with workers(1, env, True, log_dir, "C") as procs:
        run = drain(db, lo, hi, procs, "C backlog, 1 worker --once", args.backlog_cap, log_dir, "C",
                    sample_rss=True, cpu=cpu)
    result = {**db.outcome(lo, hi, run["ended"]), **run, "workers": 1, "log": log_problems(log_dir, "C", 1),
              **cpu.result()}
    result["wall_rate"] = result["sent"] / run["wall_s"] if run["wall_s"] > 0 else 0.0
    samples = [s for s in run["samples"] if s[1] > 0] or run["samples"]  # from the first send (imports done)
    if samples:
        drained = samples[-1][1]  # of the whole backlog, or of what drained before the time cap

        def at(fraction: float) -> float:
            return next((rss for _, done, rss in samples if done >= drained * fraction), samples[-1][2])

        peak = max(rss for _, _, rss in samples)
        result.update(rss_start=samples[0][2], rss_10=at(0.10), rss_quartiles=[at(q) for q in (0.25, 0.5, 0.75)],
                      rss_peak=peak, rss_end=samples[-1][2], rss_growth=peak - at(0.10), rss_drained=drained)
    return result


# --------------------------------------------------------------------------------------------------------------------
# Report


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def seconds(row: dict, pct: str) -> str:
    return f"{'>' if row[f'p{pct}_censored'] else ''}{row[f'p{pct}_s']:.2f}"


def print_report(args, bare: dict, single: dict, scaled: dict | None, latency: dict, memory: dict,
                 stub_counts: dict, compared: dict | None = None) -> None:
    c = args.concurrency
    print()
    print(f"stub: SendGrid wire format on 127.0.0.1, {args.delay * 1000:.0f} ms per answer (phase C "
          f"{args.backlog_delay * 1000:.0f} ms); DISPATCH_CONCURRENCY={c}, DISPATCH_BATCH_SIZE={args.batch_size}; "
          f"{os.cpu_count()} CPUs shared by PostgreSQL, the stub, the bench and the workers; load average "
          f"{args.load_start} at the start, {load_average()} at the end")
    print(f"{'phase':<42}{'msgs':>8}{'sent':>8}{'msg/s':>9}{'/worker':>9}{'wall/s':>9}{'p50 s':>9}{'p99 s':>9}"
          f"{'CPU ms':>8}{'PG ms':>7}{'idle':>6}")
    bare_cpu = f"{bare['cpu_s'] / bare['requests'] * 1000:.1f}" if bare["requests"] else ""
    print(f"{f'A bare requests loop, {c} threads':<42}{bare['requests'] + bare['errors']:>8}{bare['requests']:>8}"
          f"{bare['rps']:>9.1f}{'':>9}{'':>9}{bare['p50_ms'] / 1000:>9.3f}{bare['p99_ms'] / 1000:>9.3f}"
          f"{bare_cpu:>8}")
    rows = [("B burst, 1 worker --once", single)]
    if compared:
        rows.append((f"B burst, 1 worker --once of {compared['source'].name}", compared))
    if scaled:
        rows.append((f"B burst, {scaled['workers']} workers --once", scaled))
    for label, row in [*rows, (f"L {args.latency_rate:.0f}/s falling due, 1 worker", latency),
                       (f"C backlog, 1 worker --once ({args.backlog_delay * 1000:.0f} ms stub)", memory)]:
        cpu = f"{row['cpu_s'] / row['sent'] * 1000:.1f}" if row["sent"] and "cpu_s" in row else ""
        pg = f"{row['pg_cpu_s'] / row['sent'] * 1000:.1f}" if row["sent"] and "pg_cpu_s" in row else ""
        idle = f"{row['idle_cores']:.2f}" if "idle_cores" in row else ""
        wall = f"{row['wall_rate']:.1f}" if "wall_rate" in row else ""
        print(f"{label:<42}{row['planned']:>8}{row['sent']:>8}{row['window_rate']:>9.1f}"
              f"{row['window_rate'] / row['workers']:>9.1f}{wall:>9}{seconds(row, '50'):>9}"
              f"{seconds(row, '99'):>9}{cpu:>8}{pg:>7}{idle:>6}")
    print("msg/s = sent / (last sent_at - first sent_at), from the database; wall/s = sent / the worker process's "
          "wall time (start-up included); bare loop: requests / loop wall time.")
    print("p50/p99 = due-to-sent (sent_at - due_at; '>' = a lower bound, messages still unsent at the end count "
          "with end - due_at); bare loop: request latency. In a burst (B, C) every message is due at once, so its "
          "delays measure the drain time, not the target. CPU ms = user+system CPU per message sent (workers, start-up "
          "included) or per request (bare loop); PG ms = the workers' PostgreSQL backends' CPU per message (/proc, "
          "sampled each second); idle = cores of the machine idle during the phase (/proc/stat, whoever else runs).")
    if "rss_peak" in memory:
        q25, q50, q75 = memory["rss_quartiles"]
        print(f"worker RSS MB while {memory['rss_drained']} of the {memory['planned']} backlog drained: start "
              f"{memory['rss_start']:.0f}, at 10% {memory['rss_10']:.0f}, 25/50/75% {q25:.0f}/{q50:.0f}/{q75:.0f}, "
              f"peak {memory['rss_peak']:.0f}, end {memory['rss_end']:.0f} ({len(memory['samples'])} samples, "
              f"1 s apart)")
    print(f"stub requests answered per phase: {stub_counts}; text + HTML per message: bare loop "
          f"{bare['content_bytes']} bytes, worker (phase B average) {single['body_bytes']:.0f} bytes")
    for label, row in [*rows, ("L", latency), ("C", memory)]:
        others = {k: v for k, v in row["statuses"].items() if k != "sent"}
        notes = []
        if row["timed_out"]:
            notes.append(f"stopped at the {row['wall_s']:.0f} s time cap")
        if others:
            notes.append(f"not sent: {others}")
        if row["errors"]:
            notes.append(f"errors: {row['errors']}")
        if row["log"][0]:
            notes.append(f"{row['log'][0]} WARNING/ERROR lines in the worker log, e.g. {row['log'][1]}")
        if notes:
            print(f"note: {label}: " + "; ".join(notes))
    print()

    per_worker = single["window_rate"]
    if scaled:
        share = scaled["per_worker"] / per_worker if per_worker else 0.0
        print(f"scale-out: {scaled['workers']} workers sent {scaled['window_rate']:.1f} msg/s together, "
              f"{scaled['per_worker']:.1f} per worker ({share:.0%} of one worker alone; {os.cpu_count()} CPUs here)")
        if scaled["sent"]:
            worker_ms = scaled["cpu_s"] / scaled["sent"] * 1000
            pg_ms = scaled["pg_cpu_s"] / scaled["sent"] * 1000
            demand = scaled["window_rate"] * (worker_ms + pg_ms) / 1000
            print(f"scale-out CPU: {worker_ms:.2f} ms per message in the workers + {pg_ms:.2f} ms in their PostgreSQL "
                  f"backends = {demand:.2f} cores at {scaled['window_rate']:.0f} msg/s; {scaled['idle_cores']:.2f} of "
                  f"{os.cpu_count()} cores idle meanwhile (the stub, the bench and other tenants use the rest)"
                  + ("  -> the cores are the limit" if scaled["idle_cores"] < 0.25 else ""))
    ratio = single["window_rate"] / bare["rps"] if bare["rps"] else 0.0
    scale = scaled["window_rate"] / per_worker if scaled and per_worker else 0.0
    latency_ok = latency["p99_s"] < TARGET_P99_S and not latency["p99_censored"] and latency["sent"] > 0
    drained = memory["sent"] + sum(v for k, v in memory["statuses"].items() if k.startswith(("skipped", "failed")))
    memory_complete = drained == memory["planned"]
    incomplete = "" if memory_complete else f"; only {drained} of {memory['planned']} drained in the time cap"
    rss_ok = memory_complete and memory.get("rss_peak", math.inf) < TARGET_RSS_MB
    flat_ok = memory_complete and memory.get("rss_growth", math.inf) < TARGET_RSS_GROWTH_MB
    print(f"throughput of one worker: {per_worker:.1f} msg/s   (target >= {TARGET_PER_WORKER:.0f})   "
          f"{verdict(per_worker >= TARGET_PER_WORKER and single['sent'] > 0)}")
    print(f"1 worker / bare loop at concurrency {c}: {ratio:.0%}   (target >= {TARGET_RATIO:.0%})   "
          f"{verdict(ratio >= TARGET_RATIO)}")
    if scaled:
        print(f"{scaled['workers']} workers / 1 worker: {scale:.2f}   (target >= {TARGET_SCALE} for 2)   "
              f"{verdict(scale >= TARGET_SCALE)}")
    print(f"due-to-sent at {args.latency_rate:.0f}/s: p50 {seconds(latency, '50')} s, p99 {seconds(latency, '99')} s   "
          f"(target p99 < {TARGET_P99_S:.0f} s)   {verdict(latency_ok)}")
    if compared and compared["sent"] and single["sent"]:
        print(f"CPU per message, phase B: this checkout {single['cpu_s'] / single['sent'] * 1000:.2f} ms in the "
              f"worker + {single['pg_cpu_s'] / single['sent'] * 1000:.2f} ms in PostgreSQL; {compared['source']} "
              f"{compared['cpu_s'] / compared['sent'] * 1000:.2f} ms + "
              f"{compared['pg_cpu_s'] / compared['sent'] * 1000:.2f} ms (same run, same database)")
    print(f"worker peak RSS: {memory.get('rss_peak', math.nan):.0f} MB   (target < {TARGET_RSS_MB:.0f} MB{incomplete})"
          f"   {verdict(rss_ok)}")
    print(f"worker RSS growth after 10% of the backlog: {memory.get('rss_growth', math.nan):.0f} MB   "
          f"(target < {TARGET_RSS_GROWTH_MB:.0f} MB{incomplete})   {verdict(flat_ok)}")


# --------------------------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20000, help="due messages in phase B (default 20000)")
    parser.add_argument("--scale-workers", type=int, default=2,
                        help="workers for phase B's scale-out run on another --messages batch; 0 skips it (default 2)")
    parser.add_argument("--bare-requests", type=int, default=3000, help="requests of the bare loop (default 3000)")
    parser.add_argument("--latency-rate", type=float, default=TARGET_PER_WORKER,
                        help="messages falling due per second in phase L (default 150, the throughput target)")
    parser.add_argument("--latency-seconds", type=float, default=60.0,
                        help="how long messages keep falling due in phase L (default 60)")
    parser.add_argument("--latency-grace", type=float, default=30.0,
                        help="how long phase L waits after the last message fell due (default 30)")
    parser.add_argument("--backlog", type=int, default=100000, help="due messages in phase C (default 100000)")
    parser.add_argument("--delay", type=float, default=0.1, help="stub answer delay, phases A, B, L (default 0.1 s)")
    parser.add_argument("--backlog-delay", type=float, default=0.1,
                        help="stub answer delay in phase C (default 0.1 s; at concurrency 32 that caps phase C near "
                             "300 msg/s, so 100,000 take >= 5.5 min: lower it to drain faster)")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="DISPATCH_CONCURRENCY of the workers and threads of the bare loop "
                             "(default: $DISPATCH_CONCURRENCY or 32)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="DISPATCH_BATCH_SIZE of the workers (default: $DISPATCH_BATCH_SIZE or 200)")
    parser.add_argument("--time-cap", type=float, default=150.0,
                        help="seconds before phase B's single worker is stopped (default 150)")
    parser.add_argument("--scale-cap", type=float, default=90.0,
                        help="seconds before phase B's scale-out workers are stopped (default 90)")
    parser.add_argument("--backlog-cap", type=float, default=540.0,
                        help="seconds before phase C's worker is stopped (default 540)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run in about 2 minutes: 2000 messages (25 s cap, 20 s scaled), 1000 bare "
                             "requests, 15 s of arrivals (+10 s), a 5000 backlog (30 s cap)")
    parser.add_argument("--compare", type=Path, default=None, metavar="PATH",
                        help="a checkout of another revision (e.g. main): phase B also runs its worker, for CPU per "
                             "message side by side")
    parser.add_argument("--stub", action="store_true", help=argparse.SUPPRESS)  # internal: serve the stub
    parser.add_argument("--bare-loop", action="store_true", help=argparse.SUPPRESS)  # internal: config on stdin
    args = parser.parse_args()

    if args.stub:
        return serve_stub(args.delay)
    if args.bare_loop:
        print(json.dumps(run_bare_loop(json.load(sys.stdin))))
        return 0

    if args.quick:
        args.messages, args.bare_requests, args.backlog = 2000, 1000, 5000
        args.time_cap, args.scale_cap, args.latency_seconds, args.latency_grace, args.backlog_cap = 25, 20, 15, 10, 30
    if args.concurrency is None:
        args.concurrency = int(os.environ.get("DISPATCH_CONCURRENCY") or 32)
    if args.batch_size is None:
        args.batch_size = int(os.environ.get("DISPATCH_BATCH_SIZE") or 200)
    if min(args.messages, args.bare_requests, args.backlog, args.concurrency, args.batch_size) < 1 \
            or min(args.latency_rate, args.latency_seconds, args.time_cap, args.scale_cap, args.backlog_cap) <= 0 \
            or args.scale_workers < 0 or args.latency_grace < 0 or args.delay < 0 or args.backlog_delay < 0:
        parser.error("sizes, rates, caps and --concurrency must be positive")
    if args.compare and not (args.compare / "retainful" / "__init__.py").is_file():
        parser.error(f"--compare takes a checkout of this repository: no retainful/ package in {args.compare}")

    # SIGTERM (e.g. from a CI timeout) unwinds like Ctrl-C, so workers and stubs stop and the database is dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    args.load_start = load_average()
    server = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_SERVER
    instance = Path(tempfile.mkdtemp(prefix="retainful-bench-"))
    base_env = bench_env(os.environ)
    try:
        with ExitStack() as stack:
            database_url = stack.enter_context(scratch_database(server))
            env = {**base_env, "DATABASE_URL": database_url, "RETAINFUL_INSTANCE_PATH": str(instance),
                   "LOG_LEVEL": "WARNING", "SECRET_KEY": "bench", "PYTHONUNBUFFERED": "1"}
            print(f"scratch database {database_url.rsplit('/', 1)[-1]}: applying migrations", file=sys.stderr)
            issued = migrated_store(env)
            db = Database(database_url)
            stack.callback(db.engine.dispose)
            step_id = db.prepare_store(issued["id"])

            stub = stack.enter_context(stub_process(args.delay, env))
            worker_env = {**env, "EMAIL_PROVIDER": "sendgrid", "SENDGRID_API_KEY": SENDGRID_KEY,
                          "SENDGRID_API_HOST": stub.base_url, "SMS_PROVIDER": "sandbox",
                          "DISPATCH_CONCURRENCY": str(args.concurrency), "DISPATCH_BATCH_SIZE": str(args.batch_size)}

            # Seed everything first, so no phase pays for another's inserts.
            batch_b = db.seed(issued["id"], step_id, "b1", args.messages)
            batch_s = db.seed(issued["id"], step_id, "b2", args.messages) if args.scale_workers else None
            batch_x = db.seed(issued["id"], step_id, "bx", args.messages) if args.compare else None
            batch_l = db.seed(issued["id"], step_id, "l", max(1, round(args.latency_rate * args.latency_seconds)))
            batch_c = db.seed(issued["id"], step_id, "c", args.backlog)

            bare = bare_loop_in_subprocess({"base_url": stub.base_url, "concurrency": args.concurrency,
                                            "requests": args.bare_requests}, env)
            for sample in bare["error_samples"]:
                print(f"bare loop error: {sample}", file=sys.stderr)
            counts = {"A": stub.count()["requests"]}

            single = throughput_phase(db, batch_b, 1, worker_env, args, instance, "B")
            db.retire(batch_b)
            counts["B"] = stub.count()["requests"] - sum(counts.values())
            compared = None
            if batch_x:
                compared = {**throughput_phase(db, batch_x, 1, worker_env, args, instance, "BX",
                                               args.compare.resolve()), "source": args.compare.resolve()}
                db.retire(batch_x)
                counts["BX"] = stub.count()["requests"] - sum(counts.values())
            scaled = None
            if batch_s:
                scaled = throughput_phase(db, batch_s, args.scale_workers, worker_env, args, instance, "B2")
                db.retire(batch_s)
                counts["B2"] = stub.count()["requests"] - sum(counts.values())
            latency = latency_phase(db, batch_l, worker_env, args, instance)
            db.retire(batch_l)
            counts["L"] = stub.count()["requests"] - sum(counts.values())
            stub_errors = stub.count()["errors"]

            with stub_process(args.backlog_delay, env) as backlog_stub:
                memory = memory_phase(db, batch_c, {**worker_env, "SENDGRID_API_HOST": backlog_stub.base_url},
                                      args, instance)
                c_counts = backlog_stub.count()
            counts["C"] = c_counts["requests"]
            counts["stub connection errors"] = stub_errors + c_counts["errors"]
            print_report(args, bare, single, scaled, latency, memory, counts, compared)
    finally:
        shutil.rmtree(instance, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
