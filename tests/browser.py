"""Helpers for the browser tests: Debian's Chromium driven by Playwright, and the real app served on a local port.

Chromium is never downloaded (no ``playwright install``): the tests launch ``/usr/bin/chromium`` from Debian's
``chromium`` package, which ``make install-test`` installs when it is missing. Without it the browser tests skip,
unless ``REQUIRE_BROWSER=1`` (CI) turns its absence into a failure.
"""
from __future__ import annotations

import os
import struct
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
# No sandbox (root in a container), no GPU, and nothing that phones home: the machine has no internet, and without the
# background-networking flags Chromium's refused connections fill the logs. No host name but localhost resolves, so a
# request Playwright's routing does not see (an email preview's images, in a srcdoc iframe) cannot leave either.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"]
VIEWPORT = {"width": 1280, "height": 800}


def require_chromium() -> None:
    """Skip (or fail, with REQUIRE_BROWSER=1) when Debian's Chromium or the Playwright package is missing."""
    required = os.environ.get("REQUIRE_BROWSER") == "1"
    problem = None
    if not os.path.exists(CHROMIUM):
        problem = f"{CHROMIUM} is missing (apt-get install chromium; `make install-test` does it as root)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is missing (pip install -e '.[test]')"
    if problem:
        if required:
            pytest.fail(f"REQUIRE_BROWSER=1 but {problem}", pytrace=False)
        pytest.skip(problem)


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module (import this fixture into the module); skips as require_chromium() says."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


class LiveServer:
    """The app served by werkzeug's threaded server on 127.0.0.1 and a free port, in a daemon thread."""

    def __init__(self, app):
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"live-server-{self.port}", daemon=True)

    def __enter__(self) -> "LiveServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._thread.join(5)
        self._server.server_close()


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    data = Path(path).read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def screenshot_dir(tmp_path: Path) -> Path:
    """Where screenshots go: SCREENSHOT_DIR (e.g. ``docs`` to refresh the README's pictures), else the test's tmp."""
    target = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target
