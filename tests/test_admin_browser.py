"""The admin panel in a real browser: Debian's Chromium driven by Playwright against the real app served on a local
port (werkzeug's threaded server), SQLite only (the data layer runs on both databases elsewhere), e-mail sent through
the SendGrid stub.

Skipped when /usr/bin/chromium is missing, unless REQUIRE_BROWSER=1 (CI). ``SCREENSHOT_DIR=docs`` refreshes the
README's screenshots (``docs/admin-dashboard.png``, ``docs/admin-template-editor.png``).
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from retainful import clock, users
from retainful.extensions import db
from retainful.messaging.sms_encoding import segment_count
from retainful.models import Cart, Message, Role
from retainful.stores import create_store
from tests.browser import VIEWPORT, LiveServer, browser, png_size, screenshot_dir  # noqa: F401 (browser)
from tests.conftest import T0, StoreClient, _empty_tables, cart_body, make_app
from tests.test_recovery_sequence import run_jobs

try:
    from playwright.sync_api import expect
except ImportError:  # require_chromium() skips or fails with the reason
    expect = None

PASSWORD = "correct horse battery staple"
OWNER, MARKETER, OTHER_OWNER = "owner@acme.test", "marketer@acme.test", "owner@other.test"
TIMEOUT_MS = 15_000  # generous: CI's two cores may be busy
if expect is not None:
    expect.set_options(timeout=TIMEOUT_MS)


# --- the browser and the server ------------------------------------------------------------------------------------

@pytest.fixture
def live(browser, sqlite_url, sendgrid_stub):
    """The real app on 127.0.0.1:<free port>, e-mail through the SendGrid stub; tables emptied afterwards.
    (A few dispatch threads are plenty for the handful of messages the tests send.)"""
    app = make_app(sqlite_url, EMAIL_PROVIDER="sendgrid", SENDGRID_API_KEY="SG.test",
                   SENDGRID_API_HOST=sendgrid_stub.base_url, DISPATCH_CONCURRENCY=4)
    try:
        with LiveServer(app) as server:
            yield server
    finally:
        _empty_tables(app)


PLACEHOLDER_IMAGE = ('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="120">'
                     '<rect width="120" height="120" fill="#dee2e6"/></svg>')


def _elsewhere(route):
    """Another host (the machine has no internet): a grey square for an image (the sample cart's product pictures
    in e-mail previews), a refusal for anything else; the network is never tried."""
    if route.request.resource_type == "image":
        route.fulfill(status=200, content_type="image/svg+xml", body=PLACEHOLDER_IMAGE)
    else:
        route.abort("blockedbyclient")


@pytest.fixture
def page(browser, live):
    """A fresh browser context (no cookies) on the live server; requests to other hosts never reach the network.
    Fails the test on a JavaScript error, a Content-Security-Policy violation, or on a stylesheet, script or image of
    the app that does not load (a load cut short by leaving the page is no failure)."""
    context = browser.new_context(base_url=live.url, viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    context.route(lambda url: not url.startswith(live.url + "/"), _elsewhere)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"JavaScript error: {error}"))
    tab.on("console", lambda message: problems.append(f"{message.type}: {message.text}")
           if "Content Security Policy" in message.text else None)  # the admin must satisfy its own policy
    tab.on("requestfailed", lambda request: problems.append(f"failed: {request.url} {request.failure}")
           if request.url.startswith(live.url) and request.failure != "net::ERR_ABORTED" else None)
    tab.on("response", lambda response: problems.append(f"{response.status}: {response.url}")
           if response.status >= 400 and response.request.resource_type != "document" else None)
    yield tab
    context.close()
    assert not problems, problems


# --- data ----------------------------------------------------------------------------------------------------------

def _store(app, name, domain):
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
    a = _store(app, "Acme Mugs", "acme.example")
    b = _store(app, "Other Shop", "other.example")
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


@pytest.fixture
def world_with_history(live, frozen_clock):
    return build_world(live.app, history=True)


def log_in(page, email, password=PASSWORD):
    page.goto("/admin/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#login-button")
    expect(page.locator("#current-user")).to_contain_text(email)
    assert "/admin/login" not in page.url


# --- scenarios -----------------------------------------------------------------------------------------------------

def test_owner_filters_abandoned_carts_and_reads_a_carts_timeline(page, world):
    log_in(page, OWNER)
    page.click("nav a[href='/admin/carts/']")
    expect(page).to_have_url(re.compile(r"/admin/carts/$"))
    rows = page.locator("#carts-table tbody tr[data-cart-id]")
    expect(rows).to_have_count(3)  # Carol's (abandoned), Alice's (recovered), Dave's (live): store B's is not here

    page.select_option("#status", "abandoned")
    page.click("#filter-button")
    expect(page).to_have_url(re.compile(r"[?&]status=abandoned"))
    expect(rows).to_have_count(1)
    row = page.locator(f"#carts-table tr[data-cart-id='{world['carol_cart']}']")
    expect(row).to_have_attribute("data-status", "abandoned")
    expect(row).to_contain_text("carol@acme.example")

    row.locator("a.cart-link").click()
    expect(page).to_have_url(re.compile(rf"/admin/carts/{world['carol_cart']}$"))
    expect(page.locator("#cart-items tr.cart-item")).to_have_count(2)
    expect(page.locator("#cart-customer")).to_contain_text("Carol")
    timeline = page.locator("#cart-timeline li.timeline-event")
    events = timeline.evaluate_all("items => items.map(item => item.dataset.event)")
    assert events[:2] == ["created", "abandoned"], events
    assert "sent" in events and "planned" in events, events
    sent = page.locator("#cart-timeline li.timeline-event[data-event='sent']").first
    expect(sent).to_contain_text("Sent step 1 email to Carol Jones <carol@acme.example>")
    expect(page.locator("#cart-timeline li.timeline-event[data-event='scheduled']").first).to_contain_text("Due step")
    expect(page.locator("#cart-order")).to_contain_text("No order.")


def test_marketer_edits_an_email_template_with_live_preview_and_test_sends_it(page, world, sendgrid_stub,
                                                                              tmp_path):
    log_in(page, MARKETER)
    page.goto("/admin/templates/")
    page.click("a[href$='/admin/templates/edit/email/abandoned_cart/step1']")
    expect(page).to_have_url(re.compile(r"/admin/templates/edit/email/abandoned_cart/step1$"))
    editor = page.locator("#template-editor")
    expect(editor).to_have_attribute("data-preview-state", "ready")
    frame = page.frame_locator("#preview-frame")
    expect(frame.locator("body")).to_contain_text("You left something behind")

    source = page.locator("#template-source")
    new_source = source.input_value().replace("<h1>You left something behind</h1>",
                                              "<h1>Your mugs are waiting for you</h1>")
    assert "Your mugs are waiting" in new_source
    source.fill(new_source)
    expect(page.locator("#unsaved")).to_be_visible()
    expect(frame.locator("h1")).to_have_text("Your mugs are waiting for you")
    expect(editor).to_have_attribute("data-preview-state", "ready")
    expect(frame.locator("body")).not_to_contain_text("You left something behind")

    sendgrid_stub.clear()
    page.fill("#test-send-to", "qa.person@example.com")
    page.click("#test-send-button")
    result = page.locator("#test-send-result [data-status]")
    expect(result).to_have_attribute("data-status", "sent")
    expect(result).to_contain_text("Sent to qa.person@example.com via sendgrid")
    mails = [r for r in sendgrid_stub.requests if r.path == "/v3/mail/send"]
    assert len(mails) == 1, [r.path for r in sendgrid_stub.requests]
    mail = mails[0].json
    assert mail["personalizations"][0]["to"][0]["email"] == "qa.person@example.com"
    html = next(c["value"] for c in mail["content"] if c["type"] == "text/html")
    assert "Your mugs are waiting for you" in html and "You left something behind" not in html

    shot = screenshot_dir(tmp_path) / "admin-template-editor.png"
    page.screenshot(path=str(shot), full_page=True)
    assert png_size(shot)[0] == VIEWPORT["width"]


def test_sms_editor_counts_characters_and_segments_while_typing(page, world):
    log_in(page, MARKETER)
    page.goto("/admin/templates/edit/sms/abandoned_cart/step1")
    editor = page.locator("#template-editor")
    expect(editor).to_have_attribute("data-preview-state", "ready")
    preview = page.locator("#sms-preview")
    counter = {name: page.locator(f"#sms-{name}") for name in ("characters", "segments", "encoding")}

    def shown():
        return {name: element.inner_text() for name, element in counter.items()}

    def counted():  # what the carrier counts for the text in the preview pane
        encoding, segments, characters = segment_count(preview.text_content())
        return {"characters": str(characters), "segments": str(segments), "encoding": encoding}

    before = shown()
    assert before == counted() and before["segments"] == "1" and before["encoding"] == "GSM-7", before

    source = page.locator("#template-source")
    source.press("Control+End")
    addition = " Your cart is kept for seven days, and the prices in it too."
    source.press_sequentially(addition, delay=5)
    expect(preview).to_contain_text("and the prices in it too.")
    expect(editor).to_have_attribute("data-preview-state", "ready")
    expect(counter["segments"]).to_have_text("2")  # past 160 GSM-7 characters: two parts
    longer = shown()
    assert longer == counted(), (longer, counted())
    assert int(longer["characters"]) >= int(before["characters"]) + len(addition)

    source.press_sequentially(" \u2713")  # a check mark is not GSM-7: the whole message switches to UCS-2
    expect(counter["encoding"]).to_have_text("UCS-2")
    expect(editor).to_have_attribute("data-preview-state", "ready")
    unicode = shown()
    assert unicode == counted(), (unicode, counted())
    assert int(unicode["segments"]) >= 3  # more than 134 UTF-16 units: parts of 67


def test_marketer_opening_the_settings_url_gets_403(page, world):
    log_in(page, MARKETER)
    expect(page.locator("nav a[href='/admin/settings/']")).to_have_count(0)  # not in the menu either
    response = page.goto("/admin/settings/")
    assert response.status == 403
    expect(page.locator("body")).to_contain_text("Forbidden")
    expect(page.locator("#settings-form")).to_have_count(0)


def test_owner_typing_another_stores_cart_url_gets_404(page, world):
    log_in(page, OWNER)
    own = page.goto(f"/admin/carts/{world['carol_cart']}")
    assert own.status == 200
    expect(page.locator("#cart-timeline")).to_be_visible()
    foreign = page.goto(f"/admin/carts/{world['bob_cart']}")
    assert foreign.status == 404
    expect(page.locator("body")).to_contain_text("Not Found")
    expect(page.locator("body")).not_to_contain_text("bob@other.example")


CHART_STATE = """figure => { const c = figure.rtChart; return {
    width: c.width, height: c.height, points: c.data.labels.length,
    datasets: c.data.datasets.map(d => ({label: d.label, type: d.type, colour: d.borderColor, data: d.data,
                                          visible: c.isDatasetVisible(c.data.datasets.indexOf(d))}))}; }"""


def _tooltip_at(page, chart, index):
    """Hover the chart over its ``index``-th label; the tooltip's lines as Chart.js draws them on the canvas."""
    chart.scroll_into_view_if_needed()
    x, y = chart.evaluate("(figure, i) => { const c = figure.rtChart; const m = c.getDatasetMeta(0).data[i];"
                          " const r = c.canvas.getBoundingClientRect(); return [r.left + m.x, r.top + c.chartArea.top"
                          " + c.chartArea.height / 2]; }", index)
    page.mouse.move(x, y)
    page.wait_for_function("figure => figure.rtChart.tooltip.opacity > 0 || figure.rtChart.tooltip.getActiveElements()"
                           ".length > 0", arg=chart.element_handle())
    return chart.evaluate("figure => { const t = figure.rtChart.tooltip; return [t.title.join(' ')]"
                          ".concat(t.body.map(b => b.lines.join(' '))); }")


@pytest.mark.parametrize("width", [1366, 390])
def test_dashboard_and_reports_charts_draw_both_series_with_tooltips_offline(page, world_with_history, live, width):
    elsewhere: list[str] = []
    page.on("request", lambda request: elsewhere.append(request.url)
            if not request.url.startswith(live.url + "/") else None)
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, OWNER)
    page.goto("/admin/")
    chart = page.locator("figure#daily-chart[data-rendered='yes']")
    expect(chart).to_be_visible()
    expect(chart).to_have_attribute("data-points", "30")
    state = chart.evaluate(CHART_STATE)
    # The card's full width (less its 20 px padding each side), tall enough to read, at both widths.
    card = page.locator("figure#daily-chart").locator("xpath=..").bounding_box()
    assert state["width"] >= card["width"] - 41 and state["height"] >= 200, (state["width"], card, state["height"])
    abandoned, recovered = state["datasets"]
    assert (abandoned["label"], abandoned["type"]) == ("Abandoned carts", "bar") and abandoned["visible"]
    assert (recovered["label"], recovered["type"]) == ("Recovered carts", "line") and recovered["visible"]
    assert abandoned["colour"] != recovered["colour"]
    assert sum(abandoned["data"]) == sum(c for c, _ in HISTORY) + 2  # the history, Carol's and Alice's carts
    assert sum(recovered["data"]) == sum(r for _, r in HISTORY) + 1
    busiest = abandoned["data"].index(8)
    lines = _tooltip_at(page, chart, busiest)
    assert "Abandoned carts: 8" in lines and f"Recovered carts: {recovered['data'][busiest]}" in lines, lines
    expect(page.locator("#stat-abandoned .stat-value")).to_have_text(str(sum(c for c, _ in HISTORY) + 2))
    expect(page.locator("#stat-recovered .stat-value")).to_have_text(str(sum(r for _, r in HISTORY) + 1))
    expect(page.locator("#before-after")).to_be_visible()
    expect(page.locator("figure#before-after-chart[data-rendered='yes']")).to_be_visible()

    page.goto("/admin/reports/")
    for chart_id in ("daily-chart", "revenue-chart", "funnel-chart", "automations-chart", "before-after-chart"):
        expect(page.locator(f"figure#{chart_id}[data-rendered='yes'] canvas")).to_be_visible()
    expect(page.locator("#daily-table")).not_to_be_visible()  # folded away until asked for
    revenue = page.locator("figure#revenue-chart")
    recovered_revenue = revenue.evaluate(CHART_STATE)["datasets"][1]["data"]
    day = recovered_revenue.index(max(recovered_revenue))
    lines = _tooltip_at(page, revenue, day)
    assert any(re.fullmatch(r"Recovered revenue: \$\d+\.\d\d", line) for line in lines), lines  # the store's money
    page.click("#daily-figures summary")
    expect(page.locator("#daily-table")).to_be_visible()
    for box in page.locator("figure.rt-chart canvas").evaluate_all(
            "cs => cs.map(c => { const r = c.getBoundingClientRect(); return [r.width, r.height]; })"):
        assert 0.7 * width < box[0] <= width and box[1] >= 200 or width > 1000, box  # a phone: a whole screen wide
    for path, chart_id in (("/admin/automations/", "automations-chart"),
                           ("/admin/reports/conversations", "reasons-chart")):
        page.goto(path)
        expect(page.locator(f"figure#{chart_id}[data-rendered='yes'] canvas")).to_be_visible()
        assert len(page.locator(f"figure#{chart_id}").evaluate(CHART_STATE)["datasets"]) == 2
    assert elsewhere == [], elsewhere  # the charts come from the app itself: nothing from the internet


def test_dashboard_screenshot(page, world_with_history, tmp_path):
    log_in(page, OWNER)
    page.goto("/admin/")
    expect(page.locator("figure#daily-chart[data-rendered='yes']")).to_be_visible()

    shot = screenshot_dir(tmp_path) / "admin-dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert png_size(shot)[0] == VIEWPORT["width"]


def test_every_admin_page_satisfies_its_content_security_policy_and_logout_ends_the_session(page, world, live):
    """The page fixture fails on any CSP violation; the email shown as sent renders inside its sandboxed frame."""
    with live.app.app_context():
        message_id = db.session.scalar(sa.select(Message.id).where(Message.cart_id == world["carol_cart"],
                                                                   Message.status == "sent").limit(1))
        customer_id = db.session.get(Cart, world["carol_cart"]).customer_id
    log_in(page, OWNER)
    for path in ("/admin/", "/admin/carts/", f"/admin/carts/{world['carol_cart']}", "/admin/customers/",
                 f"/admin/customers/{customer_id}", "/admin/orders/", "/admin/messages/",
                 f"/admin/messages/{message_id}", "/admin/coupons/", "/admin/sequence/", "/admin/templates/",
                 "/admin/templates/edit/sms/abandoned_cart/step1", "/admin/reports/", "/admin/settings/"):
        response = page.goto(path)
        assert response.status == 200, path
        assert "script-src 'self';" in response.headers["content-security-policy"], path
    page.goto(f"/admin/messages/{message_id}")
    expect(page.frame_locator("#message-html").locator("body")).to_contain_text("You left something behind")
    cookies = page.context.cookies()
    page.click("#logout-button")
    expect(page).to_have_url(re.compile(r"/admin/login$"))
    page.context.add_cookies(cookies)  # the cookie from before the logout, put back
    page.goto("/admin/customers/")
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
