"""The admin panel in a real browser: Debian's Chromium driven by Playwright against the real app served on a local
port (werkzeug's threaded server), SQLite only (the data layer runs on both databases elsewhere), e-mail sent through
the SendGrid stub.

Skipped when /usr/bin/chromium is missing, unless REQUIRE_BROWSER=1 (CI). ``SCREENSHOT_DIR=docs`` refreshes the
README's screenshots (``docs/admin-dashboard.png``, ``docs/admin-template-editor.png``).
"""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from retainful.extensions import db
from retainful.messaging.sms_encoding import segment_count
from retainful.models import Cart, Message
from tests.browser import (HISTORY, MARKETER, OWNER, VIEWPORT, WIDTHS, build_world, code_editor, code_value, expect,
                           log_in, png_size, screenshot_dir, set_code)


@pytest.fixture
def world_with_history(live, frozen_clock):
    return build_world(live.app, history=True)


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

    page.click("#mode-code")  # a default template opens in code mode already; the button keeps it there
    new_source = code_value(page).replace("<h1>You left something behind</h1>", "<h1>Your mugs are waiting for you</h1>")
    assert "Your mugs are waiting" in new_source
    set_code(page, new_source)
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

    code_editor(page).click()
    page.keyboard.press("Control+End")
    addition = " Your cart is kept for seven days, and the prices in it too."
    page.keyboard.type(addition, delay=5)
    expect(preview).to_contain_text("and the prices in it too.")
    expect(editor).to_have_attribute("data-preview-state", "ready")
    expect(counter["segments"]).to_have_text("2")  # past 160 GSM-7 characters: two parts
    longer = shown()
    assert longer == counted(), (longer, counted())
    assert int(longer["characters"]) >= int(before["characters"]) + len(addition)

    page.keyboard.type(" \u2713")  # a check mark is not GSM-7: the whole message switches to UCS-2
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
    expect(page.locator("#error-page[data-status='403']")).to_contain_text("You do not have access to this page")
    expect(page.locator("#settings-form")).to_have_count(0)


def test_owner_typing_another_stores_cart_url_gets_404(page, world):
    log_in(page, OWNER)
    own = page.goto(f"/admin/carts/{world['carol_cart']}")
    assert own.status == 200
    expect(page.locator("#cart-timeline")).to_be_visible()
    foreign = page.goto(f"/admin/carts/{world['bob_cart']}")
    assert foreign.status == 404
    expect(page.locator("#error-page[data-status='404']")).to_contain_text("This page does not exist")
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


@pytest.mark.parametrize("width", WIDTHS)
def test_dashboard_and_reports_charts_draw_both_series_with_tooltips_offline(page, world_with_history, live, width):
    elsewhere: list[str] = []
    page.on("request", lambda request: elsewhere.append(request.url)
            if not request.url.startswith(live.url + "/") else None)
    log_in(page, OWNER, width=width)
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
