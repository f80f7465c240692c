"""Every admin page in Debian's Chromium at a desktop width (1366 px) and a phone width (390 px): it answers 200, the
page itself never scrolls sideways (wide tables scroll inside their card), no control, picture or table sticks out of
its card and every grid column sits in a row, the navbar is one row at 1366 and a collapsed toggler at 390, the
console stays clean and no request leaves localhost.

The pages are app.url_map's GET rules under /admin, so a page added later is tested here or the test fails: give it a
sample URL in SAMPLE_ARGS (for a rule with arguments) or a reason in EXCLUDED. One browser, one logged-in context per
width. Skipped without /usr/bin/chromium unless REQUIRE_BROWSER=1.
"""
from __future__ import annotations

import pytest

from retainful import conversations, experiments, people, products, users
from retainful.extensions import db
from retainful.campaigns import service as campaign_service
from retainful.models import Customer, Role, Store
from retainful.urls import public_urls
from tests.browser import LiveServer, browser  # noqa: F401 (fixture)
from tests.conftest import T0, _empty_tables, make_app
from tests.test_admin import seed
from tests.test_admin_browser import PASSWORD, _store

WIDTHS = (1366, 390)
ADMIN = "admin@frame.test"
PAGES_SHOWING_EMAIL = ("/admin/messages/", "/admin/templates/edit/")
IMAGE_TYPES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg")
NAVBAR_ONE_ROW_PX = 64  # Bootstrap 4's dark navbar with small buttons is 56 px tall on one row; two rows pass 90

# GET rules under /admin that are not HTML pages for a person, each with why.
EXCLUDED = {
    "admin.static": "flask-admin's own files (loaded by every page, so checked there)",
    "retainful_admin.static": "the admin's CSS and JS (loaded by every page, so checked there)",
    "admin.login": "has no frame; checked logged out in test_login_and_error_pages_fit_both_widths",
    "customers.export": "a JSON download",
    "inbox.list_json": "JSON for inbox.js",
    "inbox.messages_json": "JSON for inbox.js",
    "reports.daily_csv": "a CSV download",
    "campaigns.count": "JSON for campaigns.js",
}


def sample_args(ids: dict) -> dict[str, list[dict]]:
    """The URL arguments each rule with arguments is visited with (from the seeded store)."""
    return {
        "carts.detail": [{"cart_id": ids["cart"]}, {"cart_id": ids["recovered_cart"]}],
        "customers.detail": [{"customer_id": ids["customer"]}],
        "orders.detail": [{"order_id": ids["order"]}],
        "messages.detail": [{"message_id": ids["message"]}, {"message_id": ids["failed_message"]}],
        "coupons.detail": [{"coupon_id": ids["coupon"]}],
        "inbox.thread": [{"conversation_id": ids["conversation"]}],
        "experiments.detail": [{"experiment_id": ids["experiment"]}],
        "automations.detail": [{"kind": "abandoned_cart"}, {"kind": "win_back"}],
        "campaigns.detail": [{"campaign_id": ids["campaign"]}],
        "templates.edit": [{"channel": "email", "key": "abandoned_cart/step1"},
                           {"channel": "sms", "key": "abandoned_cart/step1"}],
        "products.edit": [{"product_row_id": ids["product"]}],
        "admin.invite": [{"token": ids["invite_token"]}],
        "admin.reset": [{"token": ids["reset_token"]}],
    }


def admin_page_urls(app, ids: dict) -> list[str]:
    """Every GET page under /admin, with sample arguments; fails naming any rule neither sampled nor excluded."""
    samples = sample_args(ids)
    urls, missing = [], []
    with app.test_request_context():
        from flask import url_for

        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            if not rule.rule.startswith("/admin") or "GET" not in rule.methods or rule.endpoint in EXCLUDED:
                continue
            if rule.arguments:
                if rule.endpoint not in samples:
                    missing.append(rule.rule)
                urls += [url_for(rule.endpoint, **args) for args in samples.get(rule.endpoint, ())]
            else:
                urls.append(url_for(rule.endpoint))
    assert not missing, f"admin pages with no sample arguments in SAMPLE_ARGS nor a reason in EXCLUDED: {missing}"
    return urls


def people_and_products(app, store_id: int) -> dict:
    """A product with a replenishment delay, an open invitation and a reset link, for their pages (signed at T0,
    the time the tests run at: a link signed later would not be valid yet)."""
    from retainful import clock

    clock.freeze(T0)
    with app.test_request_context():
        store, admin = db.session.get(Store, store_id), users.find_user(ADMIN)
        product, _ = products.save_product(store, "101", "Coffee beans 1 kg, whole bean, dark roast", 30)
        invitation = people.invite(store, admin, "new.person.with.a.long.address@acme.example", "marketer")
        return {"product": product.id, "invite_token": people.invite_token(invitation),
                "reset_token": people.reset_token(admin)}


@pytest.fixture(scope="module")
def site(browser, tmp_path_factory):
    """The real app on a local port with one seeded store (and a second one, so the store switcher shows), an
    admin user; tables emptied afterwards."""
    from retainful import clock

    clock.freeze(T0)
    app = make_app(f"sqlite:///{tmp_path_factory.mktemp('pages') / 'pages.sqlite3'}")
    try:
        store = _store(app, "Acme Mugs & Kitchenware", "acme.example")
        _store(app, "Other Shop", "other.example")
        ids = seed(app, store)
        with app.app_context():
            users.create_user(ADMIN, PASSWORD, Role.ADMIN, [])
            carol = db.session.get(Customer, ids["customer"])
            ids["conversation"] = conversations.receive(carol, "sms", "The delivery fee surprised me",
                                                        provider_message_id="p-1").conversation_id
            four = [{"name": name, "weight": 1, "templates": {"email": {"key": "abandoned_cart/step2"}}}
                    for name in ("Control", "A much longer variant name than most", "C", "D")]
            ids["experiment"] = experiments.create(db.session.get(Store, ids["store"]), public_urls(app),
                                                   subject={"automation": "abandoned_cart", "step": 1},
                                                   variants=four).id
            ids["campaign"] = campaign_service.create(
                db.session.get(Store, store.store_id), campaign_service.parse(
                    {"name": "Spring arrivals for everyone who bought a mug", "channels": ["email", "sms"],
                     "segment": {"country": ["US"]}, "send_at": "2026-03-05T10:00:00"}), author="api").id
        ids.update(people_and_products(app, ids["store"]))
        with LiveServer(app) as server:
            app.config["PUBLIC_BASE_URL"] = server.url  # the sample cart's pictures load from the app itself
            app.extensions.pop("retainful.urls", None)  # (the seed's sends built it with the default)
            yield server, ids
    finally:
        _empty_tables(app)
        clock.unfreeze()


class Tab:
    """One browser context at one width; records console errors, failed requests and any request to another host."""

    def __init__(self, browser, base_url: str, width: int):
        self.base_url = base_url
        self.context = browser.new_context(base_url=base_url, viewport={"width": width, "height": 800})
        self.context.set_default_timeout(15_000)
        self.problems: list[str] = []
        self.context.route(lambda url: not url.startswith(base_url + "/"), self._elsewhere)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda error: self.problems.append(f"JavaScript error: {error}"))
        self.page.on("console", self._console)
        self.page.on("response", lambda response: self.problems.append(f"{response.status}: {response.url}")
                     if response.status >= 400 and response.request.resource_type != "document" else None)

    def _console(self, message) -> None:
        """An error in the console is a problem, except a shop's image in an email shown as sent or previewed
        (the email's own content, in a sandboxed srcdoc iframe; the browser resolves no other host, see
        tests/browser.py)."""
        source = message.location.get("url", "")
        if message.type != "error" or source == self.page.url:  # the document's own status (an error page's 404)
            return
        if (source.startswith("https://") and source.endswith(IMAGE_TYPES)
                and self.page.url.startswith(tuple(self.base_url + path for path in PAGES_SHOWING_EMAIL))):
            return
        self.problems.append(f"{self.page.url}: console error: {message.text} ({source})")

    def _elsewhere(self, route):
        self.problems.append(f"{self.page.url}: left localhost: {route.request.url} {route.request.frame.url}")
        route.abort("blockedbyclient")

    def log_in(self, email: str) -> None:
        self.page.goto("/admin/login")
        self.page.fill("#email", email)
        self.page.fill("#password", PASSWORD)
        self.page.click("#login-button")
        self.page.wait_for_selector("#current-user", state="attached")

    def layout(self) -> dict:
        return self.page.evaluate("""() => {
            // A control, picture, chart or table past the edge of its card (or of the page's content): a check box
            // hanging left of its column, a table clipped by a card too narrow. Scrolling tables are let be.
            const OUTSIDE = 'main input:not([type=hidden]), main select, main textarea, main .btn, main img, ' +
                            'main canvas, main table, main .badge';
            const COLUMN = /(^|\\s)col(-(sm|md|lg|xl))?(-(\\d+|auto))?(\\s|$)/;  // a Bootstrap grid column
            const name = e => e.tagName + (e.id ? '#' + e.id : '') + '.' + [...e.classList].join('.');
            const sticksOut = e => {
                const r = e.getBoundingClientRect();
                if (!r.width || e.closest('.rt-scroll, .CodeMirror, .dropdown-menu')) { return false; }
                const card = e.closest('.card'), main = e.closest('main');
                const box = (card || main).getBoundingClientRect(), style = getComputedStyle(card || main);
                const left = box.left + (card ? 0 : parseFloat(style.paddingLeft));
                const right = box.right - (card ? 0 : parseFloat(style.paddingRight));
                return r.left < left - 1 || r.right > right + 1;
            };
            const nav = document.querySelector('nav.navbar');
            const toggler = nav && nav.querySelector('.navbar-toggler');
            const collapse = nav && nav.querySelector('.navbar-collapse');
            return {scroll: document.documentElement.scrollWidth, width: window.innerWidth,
                    navHeight: nav ? nav.getBoundingClientRect().height : null,
                    toggler: !!toggler && toggler.offsetParent !== null,
                    collapsed: !!collapse && getComputedStyle(collapse).display === 'none',
                    wide: document.documentElement.scrollWidth <= window.innerWidth ? [] :  // what sticks out
                          [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right
                          > window.innerWidth + 1 && !e.closest('.rt-scroll'))
                          .slice(0, 3).map(e => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className),
                    outside: [...document.querySelectorAll(OUTSIDE)].filter(sticksOut).slice(0, 3).map(name),
                    loose: [...document.querySelectorAll('main [class*="col"]')].filter(e => COLUMN.test(e.className)
                           && !e.parentElement.matches('.row, .form-row')).slice(0, 3).map(name)};
        }""")

    def check_frame(self, url: str, width: int, failures: list[str], navbar: bool = True) -> None:
        found = self.layout()
        if found["scroll"] > found["width"]:
            failures.append(f"{width}px {url}: the page scrolls sideways ({found['scroll']} > {found['width']}: "
                            f"{found['wide']})")
        if found["outside"]:
            failures.append(f"{width}px {url}: past the edge of its card or the page: {found['outside']}")
        if found["loose"]:
            failures.append(f"{width}px {url}: a grid column outside a .row (a column not closed?): {found['loose']}")
        if not navbar:
            return
        if width >= 1200 and (found["navHeight"] or 0) > NAVBAR_ONE_ROW_PX:
            failures.append(f"{width}px {url}: the navbar wraps ({found['navHeight']} px tall): put a page in the "
                            "More menu (category=MORE, admin/README.md, Conventions)")
        if width < 1200 and not (found["toggler"] and found["collapsed"]):
            failures.append(f"{width}px {url}: the navbar is not a collapsed toggler ({found})")

    def close(self) -> None:
        self.context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_every_admin_page_fits_the_width(browser, site, width):
    server, ids = site
    urls = admin_page_urls(server.app, ids)
    tab = Tab(browser, server.url, width)
    failures: list[str] = []
    try:
        tab.log_in(ADMIN)
        for url in urls:
            response = tab.page.goto(url)
            if response.status != 200:
                failures.append(f"{width}px {url}: {response.status}")
                continue
            tab.check_frame(url, width, failures)
        tab.page.goto("/admin/")
        if width < 1200:  # the toggler opens the menu, and every link is reachable
            tab.page.click("nav .navbar-toggler")
            tab.page.wait_for_selector("#admin-navbar-collapse.show")
            assert tab.page.locator("#logout-button").is_visible()
            tab.page.click("#admin-navbar-collapse .dropdown-toggle")  # the "More" menu opens inside it
            tab.page.wait_for_selector("#admin-navbar-collapse a.dropdown-item[href='/admin/settings/']",
                                       state="visible")
        else:  # the narrowest widths with the menu in one row (a laptop's 1280, the breakpoint's 1200) fit too
            for narrower in (1280, 1200):
                tab.page.set_viewport_size({"width": narrower, "height": 800})
                tab.page.reload()  # drawn at that width (charts resize a frame after the window does)
                tab.check_frame("/admin/", narrower, failures)
    finally:
        tab.close()
    assert not failures, "\n".join(failures)
    assert not tab.problems, tab.problems


@pytest.mark.parametrize("width", WIDTHS)
def test_login_and_error_pages_fit_both_widths(browser, site, width):
    """The login page (logged out); the 403, 404 and 405 pages inside the frame, with a way back to the page the
    user came from and to the dashboard."""
    server, ids = site
    marketer = f"marketer{width}@frame.test"
    with server.app.app_context():
        users.create_user(marketer, PASSWORD, Role.MARKETER, [ids["store"]])
    tab = Tab(browser, server.url, width)
    failures: list[str] = []
    try:
        assert tab.page.goto("/admin/login").status == 200
        tab.check_frame("/admin/login", width, failures, navbar=False)
        tab.log_in(marketer)
        for url, status in (("/admin/settings/", 403), ("/admin/carts/999999", 404), ("/admin/no-such-page", 404),
                            ("/admin/settings/general", 405)):
            response = tab.page.goto(url, referer=server.url + "/admin/carts/")
            assert response.status == status, url
            assert tab.page.locator("#error-page").get_attribute("data-status") == str(status)
            assert tab.page.locator("#error-back").get_attribute("href") == server.url + "/admin/carts/"
            assert tab.page.locator("#error-home").is_visible()
            tab.check_frame(url, width, failures)
    finally:
        tab.close()
    assert not failures, "\n".join(failures)
    assert not tab.problems, tab.problems
