"""Helpers for the browser tests: Debian's Chromium driven by Playwright, and the real app served on a local port.

Chromium is never downloaded (no ``playwright install``): the tests launch ``/usr/bin/chromium`` from Debian's
``chromium`` package, which ``make install-test`` installs when it is missing. Without it the browser tests skip,
unless ``REQUIRE_BROWSER=1`` (CI) turns its absence into a failure.

conftest.py loads this module as a plugin, so its fixtures (``browser``, ``live``, ``page``, ``refusals``,
``world``) need no import; a module imports only the helpers it calls (``log_in``, ``expect``, the users' emails).
"""
from __future__ import annotations

import os
import struct
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from retainful import clock, users
from retainful.extensions import db
from retainful.models import Cart, Role
from retainful.stores import create_store
from tests.conftest import T0, StoreClient, _empty_tables, cart_body, make_app
from tests.test_recovery_sequence import run_jobs

try:
    from playwright.sync_api import expect
except ImportError:  # require_chromium() skips or fails with the reason
    expect = None

CHROMIUM = "/usr/bin/chromium"
# No sandbox (root in a container), no GPU, and nothing that phones home: the machine has no internet, and without the
# background-networking flags Chromium's refused connections fill the logs. No host name but localhost resolves, so a
# request Playwright's routing does not see (an email preview's images, in a srcdoc iframe) cannot leave either.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"]
VIEWPORT = {"width": 1280, "height": 800}
WIDTHS = [1366, 390]  # a laptop's and a phone's: the widths every admin page is tried at
TIMEOUT_MS = 15_000  # generous: CI's two cores may be busy
if expect is not None:
    expect.set_options(timeout=TIMEOUT_MS)

PASSWORD = "correct horse battery staple"
OWNER, MARKETER, OTHER_OWNER = "owner@acme.test", "marketer@acme.test", "owner@other.test"


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
    """One Chromium per test module; skips as require_chromium() says."""
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


@pytest.fixture
def live(browser, sqlite_url, sendgrid_stub):
    """The real app on 127.0.0.1:<free port>, which is its PUBLIC_BASE_URL (so the sample cart's pictures load from
    it), e-mail through the SendGrid stub; tables emptied afterwards.
    (A few dispatch threads are plenty for the handful of messages the tests send.)"""
    app = make_app(sqlite_url, EMAIL_PROVIDER="sendgrid", SENDGRID_API_KEY="SG.test",
                   SENDGRID_API_HOST=sendgrid_stub.base_url, DISPATCH_CONCURRENCY=4)
    try:
        with LiveServer(app) as server:
            app.config["PUBLIC_BASE_URL"] = server.url
            yield server
    finally:
        _empty_tables(app)


PLACEHOLDER_IMAGE = ('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="120">'
                     '<rect width="120" height="120" fill="#dee2e6"/></svg>')


def elsewhere(route):
    """Another host (the machine has no internet): a grey square for an image (the sample cart's product pictures
    in e-mail previews), a refusal for anything else; the network is never tried."""
    if route.request.resource_type == "image":
        route.fulfill(status=200, content_type="image/svg+xml", body=PLACEHOLDER_IMAGE)
    else:
        route.abort("blockedbyclient")


def open_tab(browser, live, viewport=VIEWPORT, refusals=(), **options):
    """A fresh browser context (no cookies) on the live server, and its tab and problems; requests to other hosts
    never reach the network. A problem is a JavaScript error, a Content-Security-Policy violation, a stylesheet,
    script or image of the app that does not load (a load cut short by leaving the page is no failure), or any other
    request of it that fails, except the ``refusals`` (paths) the test expects. ``options``: new_context's (locale)."""
    context = browser.new_context(base_url=live.url, viewport=viewport, **options)
    context.set_default_timeout(TIMEOUT_MS)
    context.route(lambda url: not url.startswith(live.url + "/"), elsewhere)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"JavaScript error: {error}"))
    tab.on("console", lambda message: problems.append(f"{message.type}: {message.text}")
           if "Content Security Policy" in message.text else None)  # the admin must satisfy its own policy
    tab.on("requestfailed", lambda request: problems.append(f"failed: {request.url} {request.failure}")
           if request.url.startswith(live.url) and request.failure != "net::ERR_ABORTED" else None)
    tab.on("response", lambda response: problems.append(f"{response.status}: {response.url}")
           if response.status >= 400 and response.request.resource_type != "document"
           and not (response.status < 500 and any(path in response.url for path in refusals)) else None)
    return context, tab, problems


@pytest.fixture
def refusals() -> list[str]:
    """Paths a test expects the app to refuse with a 4xx (bad input it types on purpose): not a page failure."""
    return []


@pytest.fixture
def page(browser, live, refusals):
    """A tab of open_tab's; the test fails on any of its problems."""
    context, tab, problems = open_tab(browser, live, refusals=refusals)
    yield tab
    context.close()
    assert not problems, problems


def open_menu(page) -> None:
    """Open the collapsed navbar (a phone's width), and wait for its animation to end: a click on a menu item while
    it is still sliding open can miss."""
    toggler = page.locator("nav .navbar-toggler")
    if toggler.is_visible() and not page.locator("#admin-navbar-collapse.show").count():
        toggler.click()
        page.wait_for_selector("#admin-navbar-collapse.show:not(.collapsing)")


def log_in(page, email, password=PASSWORD, width: int | None = None, height: int = 900):
    """Log in through the login form; with a ``width``, at a window that size first (the tests' usual preamble)."""
    if width is not None:
        page.set_viewport_size({"width": width, "height": height})
    page.goto("/admin/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#login-button")
    expect(page.locator("#current-user")).to_contain_text(email)
    assert "/admin/login" not in page.url


# --- the world the admin's browser tests share ----------------------------------------------------------------------

def add_store(app, name, domain):
    with app.app_context():
        issued = create_store(name, domain, country="US", timezone="America/New_York")
        store_id = issued.store.id
    return StoreClient(app.test_client(), issued, store_id)


def _put(store, token, **overrides):
    response = store.put_cart(token, cart_body(**overrides))
    assert response.status_code in (200, 201), response.get_json()


def _order(store, order_id, **body):
    response = store.post_order({"order_id": order_id, "total": "36.95", "currency": "USD", "status": "processing",
                                 **body})
    assert response.status_code == 201, response.get_json()


def _cart_id(app, store, token):
    with app.app_context():
        return db.session.scalar(sa.select(Cart.id).where(Cart.store_id == store.store_id, Cart.token == token))


# Carts abandoned per day and how many of them were recovered, for the dashboard's two weeks of history.
HISTORY = [(3, 1), (5, 2), (2, 0), (6, 3), (4, 1), (7, 2), (3, 2), (5, 1), (6, 4), (4, 2), (8, 3), (5, 2), (6, 3)]


def _history(app, store):
    """Past orders before recovery was switched on, then two weeks of carts: some bought at once, the others
    abandoned, messaged, and some of those recovered."""
    days = len(HISTORY)
    for day in range(days):  # orders imported from before the split (the before/after comparison needs them)
        _order(store, f"past-{day}", total=f"{40 + 7 * (day % 5)}.00",
               created_at=(clock.now() - timedelta(days=days - day, hours=3)).isoformat())
    for day, (carts, recovered) in enumerate(HISTORY):
        for n in range(carts):
            _put(store, f"h{day}-{n}", customer={"email": f"shopper{day}-{n}@example.com",
                                                  "first_name": f"Shopper{n}", "email_consent": True})
        for n in range(1 + day % 3):  # bought straight away: converted, never abandoned
            _put(store, f"b{day}-{n}", customer={"email": f"buyer{day}-{n}@example.com", "email_consent": True})
            _order(store, f"b{day}-{n}-order", cart_token=f"b{day}-{n}", total=f"{45 + 4 * n}.00")
        clock.advance(timedelta(minutes=40))
        run_jobs(app)  # abandoned, first email sent (and later steps of earlier carts as they fall due)
        for n in range(recovered):
            _order(store, f"h{day}-{n}-order", cart_token=f"h{day}-{n}", total=f"{30 + 5 * n}.50")
        clock.advance(timedelta(days=1) - timedelta(minutes=40))


def build_world(app, history: bool = False):
    """Two stores and their users; in store A Carol's abandoned cart (first email sent, more planned), Alice's
    recovered cart and a live cart (Dave's); in store B Bob's abandoned cart. ``history``: two weeks before that."""
    if history:
        clock.freeze(T0 - timedelta(days=len(HISTORY)))
    a = add_store(app, "Acme Mugs", "acme.example")
    b = add_store(app, "Other Shop", "other.example")
    with app.app_context():
        users.create_user(OWNER, PASSWORD, Role.OWNER, [a.store_id])
        users.create_user(MARKETER, PASSWORD, Role.MARKETER, [a.store_id])
        users.create_user(OTHER_OWNER, PASSWORD, Role.OWNER, [b.store_id])
    if history:
        _history(app, a)
        assert clock.now() == T0
    _put(a, "carol-cart", customer={"email": "carol@acme.example", "phone": "+12125550123", "first_name": "Carol",
                                    "last_name": "Jones", "email_consent": True, "sms_consent": True})
    _put(a, "alice-cart", customer={"email": "alice@acme.example", "first_name": "Alice", "email_consent": True})
    _put(b, "bob-cart", recovery_url="https://other.example/cart",
         customer={"email": "bob@other.example", "first_name": "Bob", "email_consent": True})
    clock.advance(timedelta(minutes=30))
    run_jobs(app)
    _order(a, "acme-1001", cart_token="alice-cart")
    _put(a, "dave-cart", customer={"email": "dave@acme.example", "first_name": "Dave", "email_consent": True})
    return {"a": a, "b": b, "carol_cart": _cart_id(app, a, "carol-cart"), "bob_cart": _cart_id(app, b, "bob-cart"),
            "alice_cart": _cart_id(app, a, "alice-cart"), "dave_cart": _cart_id(app, a, "dave-cart")}


@pytest.fixture
def world(live, frozen_clock):
    return build_world(live.app)


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


def code_editor(page):
    """The template editor's CodeMirror (it hides the #template-source textarea it edits)."""
    return page.locator("#code-editor .CodeMirror")


def code_value(page) -> str:
    return code_editor(page).evaluate("element => element.CodeMirror.getValue()")


def set_code(page, text: str) -> None:
    """Replace the code editor's text, as pasting over all of it does."""
    code_editor(page).evaluate("(element, text) => element.CodeMirror.setValue(text)", text)
