"""bench/campaign.py's code path at a tiny size (PostgreSQL only, like the bench): seeding, the stub, the bare loop,
the long-running worker expanding and sending a campaign while abandoned-cart messages fall due, and its report."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import _postgres_server_url

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_the_campaign_bench_runs_at_a_tiny_size():
    server = _postgres_server_url()
    if server is None:
        pytest.skip("PostgreSQL is not reachable")
    proc = subprocess.Popen([sys.executable, str(REPO / "bench" / "campaign.py"), "--recipients", "200", "--rate",
                             "100", "--arrivals-rate", "5", "--bare-requests", "20", "--time-cap", "150", "--json"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "BENCH_DATABASE_URL": server})
    try:
        out, _ = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:  # SIGTERM: the bench stops its workers and stub and drops its database
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, out
    result = json.loads(out.strip().splitlines()[-1])
    campaign = result["campaign"]
    assert campaign["rows"] == campaign["distinct_customers"] == result["audience"]  # each recipient once
    assert campaign["state"] == "sent" and campaign["sent"] == result["audience"]
    assert result["arrivals"]["sent"] == result["arrivals"]["planned"], result["arrivals"]
    assert "campaign drain rate" in out and "abandoned-cart due-to-sent" in out
