"""Cart ingest benchmark: ``PUT /api/v1/carts/<token>`` under gunicorn on PostgreSQL beside a bare Flask endpoint.

Run from the repository root (``make bench`` does this)::

    .venv/bin/python bench/cart_ingest.py [--requests 2000] [--concurrency 4] [--workers 2]

What it does, in one run:

1. creates a scratch database ``retainful_bench_<random>`` on the PostgreSQL server (``BENCH_DATABASE_URL``, default
   ``postgresql+psycopg://postgres@127.0.0.1:5432/test``), applies the migrations with ``retainful db upgrade`` and
   creates a store with ``retainful create-store --json``;
2. serves ``bench/bare_app.py`` (a PUT that parses the JSON body and answers ``{"ok": true}``) with
   ``gunicorn -w N -b 127.0.0.1:<port>`` and drives it from a separate load process;
3. serves the real app (``wsgi:app``) with the same gunicorn flags and drives ``PUT /api/v1/carts/<token>`` the same
   way: 5-item carts, half new tokens, half updates of carts created during the warm-up;
4. prints requests/s, p50/p99 latency and errors for both, the CPU time the gunicorn processes (and, for the cart
   endpoint, the database's server processes) spent per request, and PASS/FAIL against the target (cart throughput
   >= 30% of the bare endpoint's, cart p99 < 50 ms). The exit status is 0 whether or not the target is met; it is
   non-zero only when something crashed.

The CPU figures count every request the server answered in the run (warm-up included); they move much less than
throughput when other work shares the machine, so they compare code changes best.

The servers run one after the other, never together, and are stopped at the end; the scratch database is dropped
even when the run fails. Only 127.0.0.1 is ever contacted by the load generator.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the repository is importable
from bench.common import BIN, DEFAULT_SERVER, HOST, REPO, percentile, retainful, scratch_database, split  # noqa: E402


TARGET_RATIO = 0.30  # cart throughput / bare throughput
TARGET_P99_MS = 50.0

BARE_LABEL = "bare flask PUT"
CART_LABEL = "PUT /api/v1/carts"


# --------------------------------------------------------------------------------------------------------------------
# Cart bodies


CATALOGUE = [
    ("1001", "MUG-RED", "Red enamel mug", "12.50"),
    ("1002", "MUG-BLU", "Blue enamel mug", "12.50"),
    ("2040", "TEA-SAMP", "Loose-leaf tea sampler", "8.00"),
    ("3307", "KETTLE-S", "Stovetop kettle, 1.2 l", "39.90"),
    ("4410", "COASTER-4", "Cork coasters (set of 4)", "6.75"),
    ("5120", "BEANS-1K", "Espresso beans, 1 kg", "24.99"),
    ("6001", "FILTER-100", "Paper filters (100)", "3.49"),
]
SHIPPING = Decimal("4.95")


def cart_body(token: str, version: int) -> dict:
    """A realistic 5-line storefront report; ``version`` changes the quantities so an update really changes the cart."""
    start = sum(map(ord, token)) % len(CATALOGUE)
    items, subtotal = [], Decimal("0")
    for line in range(5):
        product_id, sku, name, price = CATALOGUE[(start + line) % len(CATALOGUE)]
        quantity = 1 + (line + version) % 3
        subtotal += Decimal(price) * quantity
        items.append({
            "product_id": product_id, "sku": sku, "name": name, "quantity": quantity, "price": price,
            "image_url": f"https://bench.example/img/{sku.lower()}.jpg",
            "product_url": f"https://bench.example/p/{product_id}",
        })
    return {
        "customer": {"email": f"shopper-{token}@bench.example", "first_name": "Bench", "last_name": "Shopper",
                     "email_consent": True},
        "currency": "USD",
        "items": items,
        "subtotal": f"{subtotal:.2f}",
        "total": f"{subtotal + SHIPPING:.2f}",
        "recovery_url": "https://bench.example/cart",
    }


# --------------------------------------------------------------------------------------------------------------------
# Load generator: runs in its own process (this file with --load-generator, config on stdin), prints JSON on stdout.


def run_load(config: dict) -> dict:
    """Warm up (creating each thread's pool of carts), then send the measured requests; return the figures."""
    import requests
    from tqdm import tqdm

    base, path, headers = config["base_url"], config["path"], config["headers"]
    if not base.startswith(f"http://{HOST}:"):
        raise SystemExit(f"refusing to load anything but {HOST}: {base}")
    concurrency, time_cap = config["concurrency"], config["time_cap"]
    warmup_counts = split(config["warmup"], concurrency)
    measured_counts = split(config["requests"], concurrency)
    run_id = config["run_id"]

    lock = threading.Lock()
    latencies: list[float] = []
    status_counts: dict[int, int] = {}
    errors: list[str] = []  # a few samples for the log
    error_count = 0
    failure: list[BaseException] = []

    def send(session, token: str, version: int) -> tuple[float, int | None, str]:
        body = cart_body(token, version)
        started = time.perf_counter()
        try:
            response = session.put(f"{base}{path}/{token}", json=body, headers=headers, timeout=10)
            status, text = response.status_code, response.text
        except requests.RequestException as error:
            status, text = None, repr(error)
        return time.perf_counter() - started, status, text

    def worker(index: int, phase: str, count: int, pool: list[str], deadline: float, bar) -> None:
        nonlocal error_count
        session = requests.Session()
        try:
            versions: dict[str, int] = {}
            for n in range(count):
                if time.perf_counter() > deadline:
                    break
                if phase == "warmup" or n % 2 == 0 or not pool:  # a new cart
                    token = f"{run_id}-{phase[0]}{index}-{n}"
                    version = 0
                else:  # an update of a cart this thread created during the warm-up (no two threads share a cart)
                    token = pool[(n // 2) % len(pool)]
                    version = versions[token] = versions.get(token, 0) + 1
                elapsed, status, text = send(session, token, version)
                ok = status is not None and 200 <= status < 300
                if phase == "warmup" and ok:
                    pool.append(token)
                if phase == "measured":
                    with lock:
                        latencies.append(elapsed)
                        status_counts[status or 0] = status_counts.get(status or 0, 0) + 1
                        if not ok:
                            error_count += 1
                            if len(errors) < 5:
                                errors.append(f"{status}: {text[:300]}")
                        bar.update(1)
        except BaseException as error:  # surfaced by the main thread: a crash, not a request error
            failure.append(error)
        finally:
            session.close()

    def phase_run(phase: str, counts: list[int], pools: list[list[str]], bar) -> float:
        started = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(i, phase, counts[i], pools[i], started + time_cap, bar),
                                    daemon=True) for i in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failure:
            raise failure[0]
        return time.perf_counter() - started

    pools: list[list[str]] = [[] for _ in range(concurrency)]
    phase_run("warmup", warmup_counts, pools, None)
    with tqdm(total=config["requests"], desc=config["label"], unit="req", file=sys.stderr, leave=True,
              mininterval=0.5, dynamic_ncols=True) as bar:
        wall = phase_run("measured", measured_counts, pools, bar)

    latencies.sort()
    completed = len(latencies)
    return {
        "label": config["label"],
        "requests": completed,
        "planned": config["requests"],
        "wall_s": wall,
        "rps": completed / wall if wall > 0 else 0.0,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "errors": error_count,
        "statuses": {str(k): v for k, v in sorted(status_counts.items())},
        "error_samples": errors,
        "warmup_pool": sum(map(len, pools)),
        "timed_out": completed < config["requests"],
    }


def load_in_subprocess(config: dict) -> dict:
    """Run the load generator in a separate process (this file with --load-generator) and read its JSON answer.

    The configuration goes in on stdin, so the store's API key never shows in the process list.
    """
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--load-generator"],
                          input=json.dumps(config), stdout=subprocess.PIPE, text=True, cwd=REPO,
                          timeout=config["time_cap"] * 2 + 120)
    if proc.returncode != 0:
        raise RuntimeError(f"load generator for {config['label']} failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------------------------------
# CPU accounting (Linux /proc; the figures are left out elsewhere)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes; ones that are gone count as 0."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / os.sysconf("SC_CLK_TCK")


def process_tree(root: int) -> list[int]:
    """``root`` and its children (gunicorn's master and its workers)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == root:
                children.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return [root, *children]


def database_backends(database_url: str) -> list[int]:
    """The server processes serving the scratch database (the app's pooled connections stay open between requests)."""
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )).scalars())
    finally:
        engine.dispose()


def measured_load(config: dict, server_pid: int, database_url: str | None = None) -> dict:
    """Run the load; add the CPU per request of the server's processes and, if given, of the database backends."""
    if not Path("/proc/self/stat").exists():
        return load_in_subprocess(config)
    server = process_tree(server_pid)
    server_before = cpu_seconds(server)
    result = load_in_subprocess(config)
    answered = config["warmup"] + result["requests"]
    result["server_cpu_ms"] = (cpu_seconds(server) - server_before) / answered * 1000
    if database_url:  # the backends only exist once the load has opened them, so their whole life is counted
        result["database_cpu_ms"] = cpu_seconds(database_backends(database_url)) / answered * 1000
    return result


# --------------------------------------------------------------------------------------------------------------------
# Database, gunicorn


def count_carts(database_url: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM cart")).scalar_one()
    finally:
        engine.dispose()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(app_spec: str, workers: int, env: dict, log_path: Path):
    """Serve ``app_spec`` with gunicorn on a free local port; yield (base URL, master pid) once /healthz answers 200."""
    import requests

    port = free_port()
    base_url = f"http://{HOST}:{port}"
    command = [str(BIN / "gunicorn"), "-w", str(workers), "-b", f"{HOST}:{port}", "--chdir", str(REPO),
               "--log-level", "warning", app_spec]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn {app_spec} exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                if requests.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn {app_spec} did not answer /healthz in 30 s:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield base_url, proc.pid
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --------------------------------------------------------------------------------------------------------------------
# Report


def print_report(bare: dict, cart: dict, args, workers: int) -> None:
    print()
    print(f"gunicorn -w {workers} (sync), load: {args.concurrency} threads in a separate process, "
          f"{args.requests} measured requests per endpoint after {args.warmup} warm-up")
    print(f"{'endpoint':<20}{'req/s':>9}{'p50 ms':>10}{'p99 ms':>10}{'errors':>9}{'CPU ms/req: server':>21}{'db':>7}")
    for row in (bare, cart):
        cpu = "".join(f"{row[key]:>{width}.2f}" if key in row else f"{'-':>{width}}"
                      for key, width in (("server_cpu_ms", 21), ("database_cpu_ms", 7)))
        print(f"{row['label']:<20}{row['rps']:>9.0f}{row['p50_ms']:>10.1f}{row['p99_ms']:>10.1f}{row['errors']:>9}"
              f"{cpu}")
    for row in (bare, cart):
        if row["timed_out"]:
            print(f"note: {row['label']} hit the {args.time_cap:.0f} s cap after {row['requests']} of "
                  f"{row['planned']} requests")
    ratio = cart["rps"] / bare["rps"] if bare["rps"] else 0.0
    ratio_ok = ratio >= TARGET_RATIO
    p99_ok = cart["p99_ms"] < TARGET_P99_MS and cart["requests"] > 0
    print(f"cart/bare throughput: {ratio:.0%}  (target >= {TARGET_RATIO:.0%})  {'PASS' if ratio_ok else 'FAIL'}")
    print(f"cart p99: {cart['p99_ms']:.1f} ms        (target < {TARGET_P99_MS:.0f} ms)  "
          f"{'PASS' if p99_ok else 'FAIL'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per endpoint (default 2000)")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers for both apps (default 2)")
    parser.add_argument("--warmup", type=int, default=100,
                        help="unmeasured warm-up requests per endpoint; on the cart endpoint they create the carts "
                             "that the measured updates replace (default 100)")
    parser.add_argument("--time-cap", type=float, default=120.0, help="seconds per measured phase (default 120)")
    parser.add_argument("--load-generator", action="store_true", help=argparse.SUPPRESS)  # internal: config on stdin
    args = parser.parse_args()

    if args.load_generator:
        print(json.dumps(run_load(json.load(sys.stdin))))
        return 0

    if args.requests < 1 or args.concurrency < 1 or args.workers < 1 or args.warmup < args.concurrency:
        parser.error("--requests, --concurrency and --workers must be >= 1, and --warmup >= --concurrency")

    # SIGTERM (e.g. from a CI timeout) unwinds like Ctrl-C, so the servers stop and the scratch database is dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    server = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_SERVER
    instance = Path(tempfile.mkdtemp(prefix="retainful-bench-"))
    try:
        with scratch_database(server) as database_url:
            env = {**os.environ, "DATABASE_URL": database_url, "RETAINFUL_INSTANCE_PATH": str(instance),
                   "LOG_LEVEL": "WARNING", "SECRET_KEY": "bench", "PYTHONUNBUFFERED": "1"}
            env.pop("RETAINFUL_ENV", None)
            print(f"scratch database {database_url.rsplit('/', 1)[-1]}: applying migrations", file=sys.stderr)
            retainful(env, "db", "upgrade")
            issued = json.loads([line for line in retainful(
                env, "create-store", "--name", "Bench", "--domain", "bench.example", "--json").splitlines()
                if line.startswith("{")][-1])
            run_id = secrets.token_hex(3)
            common = {"requests": args.requests, "warmup": args.warmup, "concurrency": args.concurrency,
                      "time_cap": args.time_cap, "run_id": run_id}

            with gunicorn("bench.bare_app:app", args.workers, env, instance / "gunicorn-bare.log") as (base_url, pid):
                bare = measured_load({**common, "label": BARE_LABEL, "base_url": base_url, "path": "/bare",
                                      "headers": {}}, pid)
            with gunicorn("wsgi:app", args.workers, env, instance / "gunicorn-cart.log") as (base_url, pid):
                cart = measured_load({**common, "label": CART_LABEL, "base_url": base_url, "path": "/api/v1/carts",
                                      "headers": {"Authorization": f"Bearer {issued['api_key']}"}}, pid, database_url)
            for row in (bare, cart):
                for sample in row["error_samples"]:
                    print(f"{row['label']} error: {sample}", file=sys.stderr)

            statuses = cart["statuses"]
            stored = count_carts(database_url)
            created, updated = statuses.get("201", 0), statuses.get("200", 0)
            print(f"cart responses: {created} created (201), {updated} updated (200); carts stored: {stored} "
                  f"(expected {cart['warmup_pool'] + created}: {cart['warmup_pool']} from the warm-up + {created})",
                  file=sys.stderr)
            print_report(bare, cart, args, args.workers)
    finally:
        shutil.rmtree(instance, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
