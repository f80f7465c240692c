"""The Retainful plugin's test vectors (tests/data/, made by tests/php/retainful_vectors.php), and their helpers."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
CASES_FILE = DATA / "retainful_plugin_cases.json"
VECTORS_FILE = DATA / "retainful_plugin_vectors.json"
SCRIPT = Path(__file__).parent / "php" / "retainful_vectors.php"
CASES = json.loads(CASES_FILE.read_text())
VECTORS = json.loads(VECTORS_FILE.read_text())
SECRETS = CASES["secrets"]
APP_ID = CASES["app_id"]


def php() -> str:
    """The php binary, or a skip (a failure where REQUIRE_PHP=1, as in CI)."""
    found = shutil.which("php")
    if found is None:
        if os.environ.get("REQUIRE_PHP") == "1":
            pytest.fail("php is not installed (apt-get install php-cli; `make install-test` does it as root)")
        pytest.skip("php is not installed")
    return found


def run_php(*args: str) -> str:
    return subprocess.run([php(), *args], check=True, capture_output=True, text=True, timeout=60).stdout


def envelope(payload: str, secret: str = "store", iv: str | None = None) -> dict:
    return next(v for v in VECTORS["envelopes"] if v["payload"] == payload and v["secret"] == secret
                and (iv is None or v["iv"] == iv))
