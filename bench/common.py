"""What the benchmarks share: where things are, a scratch PostgreSQL database, the CLI, and small statistics.

Benchmarks run as scripts (``.venv/bin/python bench/<name>.py``), so each puts the repository on ``sys.path`` before
importing this module.
"""
from __future__ import annotations

import json
import math
import secrets
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the venv's scripts: retainful, gunicorn
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
HOST = "127.0.0.1"
BENCH_PREFIX = "retainful_bench_"


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty list)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def split(total: int, parts: int) -> list[int]:
    """``total`` in ``parts`` shares as equal as whole numbers allow."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


@contextmanager
def scratch_database(server_url: str, keep: bool = False, reuse: str | None = None):
    """Yield the URL of a new, empty database on the server; drop it (WITH (FORCE)) afterwards, whatever happened
    (unless ``keep``). With ``reuse``, yield that existing bench database and leave it."""
    import sqlalchemy as sa

    base = sa.make_url(server_url).set(drivername="postgresql+psycopg")
    if reuse:
        if not reuse.startswith(BENCH_PREFIX):
            raise SystemExit(f"--reuse takes a database named {BENCH_PREFIX}*, not {reuse!r}")
        yield base.set(database=reuse).render_as_string(hide_password=False)
        return
    name = f"{BENCH_PREFIX}{secrets.token_hex(5)}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            if keep:
                print(f"kept scratch database {name} (--keep): drop it with DROP DATABASE \"{name}\"",
                      file=sys.stderr)
            else:
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                print(f"dropped scratch database {name}", file=sys.stderr)
    finally:
        admin.dispose()


def retainful(env: dict, *args: str, timeout: float = 3600) -> str:
    """Run the ``retainful`` CLI from the repository; its output, or an error with everything it printed."""
    proc = subprocess.run([str(BIN / "retainful"), *args], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"retainful {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def migrated_store(env: dict) -> dict:
    """Migrate the scratch database ``env`` names and create the store "Bench" (bench.example) in it: its
    ``create-store --json`` answer (id, api_key ...)."""
    retainful(env, "db", "upgrade")
    answer = retainful(env, "create-store", "--name", "Bench", "--domain", "bench.example", "--json")
    return json.loads([line for line in answer.splitlines() if line.startswith("{")][-1])
