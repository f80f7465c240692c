"""The template editor in Chromium: an email made only in the visual mode, saved, reopened and test-sent through
the real SendGrid SDK; the code mode's error line and merge-variable completion; previews at desktop and phone widths,
light and dark, with the inbox row; the SMS phone; every editor page at 1366 and 390 px with no horizontal scroll.

``SCREENSHOT_DIR=docs`` refreshes ``docs/admin-template-visual-editor.png`` (1366 px) and ``…-390.png``.
"""
from __future__ import annotations

import re

import pytest

from tests.browser import browser, code_value, png_size, screenshot_dir, set_code  # noqa: F401 (browser)
from tests.test_admin_browser import MARKETER, expect, live, log_in, page, refusals, world  # noqa: F401 (fixtures)

WIDE, NARROW = {"width": 1366, "height": 900}, {"width": 390, "height": 844}
STEP2 = "/admin/templates/edit/email/abandoned_cart/step2"
# What sticks out past the window's right edge (outermost first), for the failure message.
WIDER_THAN_THE_WINDOW = """() => [...document.body.querySelectorAll('*')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .slice(0, 8).map(e => e.tagName + (e.id ? '#' + e.id : '') + '.' + [...e.classList].join('.'))"""


def settled(page):
    """Blocks turned into source and the preview rendered."""
    editor = page.locator("#template-editor")
    expect(editor).not_to_have_attribute("data-blocks-state", "pending")
    expect(editor).to_have_attribute("data-preview-state", "ready")


def test_an_email_made_only_in_the_visual_mode_is_saved_reopened_and_test_sent(page, world, sendgrid_stub,
                                                                             tmp_path, refusals):
    refusals.append("/admin/templates/blocks-to-source/")  # the link typed wrong on purpose
    page.set_viewport_size(WIDE)
    log_in(page, MARKETER)
    page.goto(STEP2)
    editor = page.locator("#template-editor")
    expect(editor).to_have_attribute("data-mode", "code")  # the file default is code
    expect(page.locator("#mode-note")).to_contain_text("written as code")
    page.click("#start-visual")
    expect(editor).to_have_attribute("data-mode", "visual")
    expect(page.locator("#code-editor")).to_be_hidden()
    expect(page.locator("#block-list .rt-block")).to_have_count(5)

    page.fill("#doc-subject", "Still deciding, ")
    page.locator("#doc-subject").press("End")
    page.select_option("#doc-subject-variable", label="First name")
    expect(page.locator("#doc-subject")).to_have_value("Still deciding, {{ customer.first_name }}")
    page.fill("#doc-preheader", "Free returns on everything in your cart")
    page.fill("#block-0-text", "Your mugs miss you")
    page.fill("#block-1-text", "We kept your cart.")
    page.select_option("#add-block-type", "text")
    page.click("#add-block")
    page.fill("#block-5-text", "Free returns for 30 days.")
    page.locator("#block-5 button[title='Move up']").click()  # above the button now
    expect(page.locator("#block-4")).to_have_attribute("data-type", "text")
    page.select_option("#add-block-type", "divider")
    page.click("#add-block")
    page.select_option("#add-block-type", "footer")
    page.click("#add-block")
    page.fill("#block-7-text", "You asked us to keep your cart at {{ store.name }}.")
    expect(page.locator("#add-block-type option[value=footer]")).to_be_disabled()  # one footer at most
    page.select_option("#add-block-type", "image")  # goes above the footer, with the app's sample picture
    page.click("#add-block")
    expect(page.locator("#block-7")).to_have_attribute("data-type", "image")
    expect(page.locator("#block-8")).to_have_attribute("data-type", "footer")
    page.fill("#block-7-alt", "Our mugs")

    page.fill("#block-5-url", "javascript:alert(1)")  # the button's link: refused, named, nothing lost
    expect(page.locator("#visual-error")).to_contain_text("Block 6 (Button), Link: Must be an https:// address")
    expect(page.locator("#block-5-url")).to_have_class(re.compile("is-invalid"))
    page.select_option("#block-5-url-variable", label="Link back to the cart")
    expect(page.locator("#block-5-url")).to_have_value("{{ recovery_url }}")
    expect(page.locator("#visual-error")).to_be_hidden()
    settled(page)

    frame = page.frame_locator("#preview-frame")
    expect(frame.locator("h1")).to_have_text("Your mugs miss you")
    expect(frame.locator("body")).to_contain_text("Free returns for 30 days.")
    expect(frame.locator("body")).to_contain_text("You asked us to keep your cart at Acme Mugs.")
    expect(page.locator("#preview-subject")).to_have_text("Still deciding, Alex")
    expect(page.locator("#preview-preheader")).to_have_text("Free returns on everything in your cart")
    picture = page.frame_locator("#preview-frame").locator("img[alt='Our mugs']")
    expect(picture).to_have_attribute("src", re.compile(r"/admin/assets/sample/mug\.png$"))
    assert picture.evaluate("image => image.complete && image.naturalWidth") > 0
    shot = screenshot_dir(tmp_path) / "admin-template-visual-editor.png"
    page.screenshot(path=str(shot), full_page=True)
    assert png_size(shot)[0] == WIDE["width"]

    page.click("#save-template")
    expect(page.locator(".alert-success")).to_contain_text("Saved as version 1")
    expect(editor).to_have_attribute("data-mode", "visual")  # reopened from the saved source: the same blocks
    expect(page.locator("#block-list .rt-block")).to_have_count(9)
    expect(page.locator("#block-0-text")).to_have_value("Your mugs miss you")
    expect(page.locator("#block-7-alt")).to_have_value("Our mugs")
    expect(page.locator("#block-8-text")).to_have_value("You asked us to keep your cart at {{ store.name }}.")

    sendgrid_stub.clear()
    page.fill("#test-send-to", "qa.person@example.com")
    page.click("#test-send-button")
    expect(page.locator("#test-send-result [data-status]")).to_have_attribute("data-status", "sent")
    mails = [r.json for r in sendgrid_stub.requests if r.path == "/v3/mail/send"]
    assert len(mails) == 1
    assert mails[0]["subject"] == "[Test] Still deciding, Alex"
    html = next(c["value"] for c in mails[0]["content"] if c["type"] == "text/html")
    assert "Your mugs miss you</h1>" in html and "Free returns for 30 days." in html
    assert html.index("Free returns for 30 days.") < html.index("Return to your cart")
    assert "Classic enamel mug" in html and "<hr" in html
    assert "You asked us to keep your cart at Acme Mugs." in html
    assert 'alt="Our mugs"' in html and "/admin/assets/sample/mug.png" in html


def test_an_older_visual_version_loads_back_into_the_visual_editor(page, world):
    page.set_viewport_size(WIDE)
    log_in(page, MARKETER)
    page.goto(STEP2)
    page.click("#start-visual")
    page.fill("#block-0-text", "First heading")
    settled(page)
    page.click("#save-template")
    page.fill("#block-0-text", "Second heading")
    settled(page)
    page.click("#save-template")
    expect(page.locator(".alert-success")).to_contain_text("Saved as version 2")
    first = page.locator("#template-history tr[data-version='1']")
    first.locator("summary").click()
    first.locator(".load-version").click()
    expect(page.locator("#block-0-text")).to_have_value("First heading")
    expect(page.locator("#template-editor")).to_have_attribute("data-mode", "visual")
    settled(page)
    expect(page.frame_locator("#preview-frame").locator("h1")).to_have_text("First heading")


def two_saved_visual_versions(page):
    """Version 1 with "First heading", version 2 with "Second heading", made in the visual mode."""
    page.set_viewport_size(WIDE)
    log_in(page, MARKETER)
    page.goto(STEP2)
    page.click("#start-visual")
    for version, heading in ((1, "First heading"), (2, "Second heading")):
        page.fill("#block-0-text", heading)
        settled(page)
        page.click("#save-template")
        expect(page.locator(".alert-success")).to_contain_text(f"Saved as version {version}")


def load_version(page, version: int) -> None:
    row = page.locator(f"#template-history tr[data-version='{version}']")
    row.locator("summary").click()
    row.locator(".load-version").click()


@pytest.mark.parametrize("endpoint", ["blocks-to-source", "source-to-blocks"])
def test_a_slow_answer_asked_for_before_loading_a_version_does_not_overwrite_it(page, world, endpoint):
    """An edit's source (blocks-to-source), or the blocks of a version loaded just before (source-to-blocks), still
    on its way when the user loads version 1: its late answer is dropped, version 1 stays."""
    from playwright.sync_api import Error as PlaywrightError

    two_saved_visual_versions(page)
    held = []

    def hold_the_first(route):
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route(f"**/admin/templates/{endpoint}/**", hold_the_first)
    if endpoint == "blocks-to-source":
        page.fill("#block-0-text", "Edited heading")
    else:
        load_version(page, 2)
    for _ in range(50):
        if held:
            break
        page.wait_for_timeout(100)
    assert held, f"no {endpoint} request was made"
    load_version(page, 1)
    expect(page.locator("#block-0-text")).to_have_value("First heading")
    settled(page)
    try:
        held[0].continue_()  # the slow answer arrives now (unless the page gave up waiting for it)
    except PlaywrightError:
        pass
    page.wait_for_timeout(600)  # time for it to be (wrongly) applied
    settled(page)
    expect(page.locator("#block-0-text")).to_have_value("First heading")
    assert "First heading" in code_value(page)
    expect(page.frame_locator("#preview-frame").locator("h1")).to_have_text("First heading")


def test_code_mode_marks_the_line_of_an_error_and_completes_merge_variables(page, world, refusals):
    refusals.append("/admin/templates/preview/")  # the broken template's preview
    page.set_viewport_size(WIDE)
    log_in(page, MARKETER)
    page.goto(STEP2)
    editor = page.locator("#template-editor")
    expect(page.locator("#code-editor .CodeMirror-code .CodeMirror-linenumber").first).to_have_text("1")
    expect(page.locator("#code-editor .cm-jinja-tag").first).to_be_visible()  # Jinja highlighted over the HTML
    broken = ('{% extends "layout.html" %}\n{% block subject %}Hi{% endblock %}\n{% block content %}\n'
              "<p>fine</p>\n{% if %}\n{% endblock %}\n")
    set_code(page, broken)
    expect(editor).to_have_attribute("data-preview-state", "error")
    expect(editor).to_have_attribute("data-error-line", "5")
    expect(page.locator("#code-editor .CodeMirror-lint-marker-error")).to_have_count(1)
    marked = page.locator("#code-editor .CodeMirror-lint-line-error")
    expect(marked.locator(".CodeMirror-line")).to_have_text("{% if %}")
    expect(marked.locator(".CodeMirror-linenumber")).to_have_text("5")
    expect(page.locator("#preview-error")).to_contain_text("line 5")

    set_code(page, broken.replace("{% if %}\n", "<p>Hi \n"))
    expect(editor).to_have_attribute("data-preview-state", "ready")
    expect(page.locator("#code-editor .CodeMirror-lint-marker-error")).to_have_count(0)
    page.locator("#code-editor .CodeMirror-line", has_text="<p>Hi").click()
    page.keyboard.press("End")
    page.keyboard.type("{{")
    hints = page.locator(".CodeMirror-hints li")
    expect(hints.first).to_be_visible()
    assert "customer.first_name" in " ".join(hints.all_inner_texts())
    page.keyboard.type("recov")  # (a space would close the list, as CodeMirror does)
    expect(hints).to_have_count(1)
    page.keyboard.press("Enter")
    assert "<p>Hi {{ recovery_url }}\n" in code_value(page)
    expect(page.frame_locator("#preview-frame").locator("body")).to_contain_text("/r/PREVIEW")

    page.click("#mode-visual")  # hand-written code: stays in code mode, kept as it is
    expect(page.locator("#mode-note")).to_contain_text("stays in code mode")
    expect(editor).to_have_attribute("data-mode", "code")
    assert "<p>Hi {{ recovery_url }}\n" in code_value(page)


def test_previews_at_desktop_and_phone_widths_in_light_and_dark_with_the_inbox_row(page, world, live):
    page.set_viewport_size(WIDE)
    log_in(page, MARKETER)
    page.goto("/admin/templates/edit/email/abandoned_cart/step1")
    expect(page.locator("#preview-subject")).to_have_text("Alex, you left something behind")
    expect(page.locator("#preview-preheader")).to_have_text(
        "We saved your cart at Acme Mugs, so you can pick up right where you left off.")
    expect(page.locator("#preview-sender")).to_contain_text("Acme Mugs")
    frame = page.locator("#preview-frame")
    assert frame.bounding_box()["width"] >= 600
    pictures = page.frame_locator("#preview-frame").locator("img[src*='/admin/assets/sample/']")
    expect(pictures).to_have_count(2)  # the sample cart's pictures, from the app itself, loaded
    for src, loaded in pictures.evaluate_all("images => images.map(i => [i.src, i.complete && i.naturalWidth])"):
        assert src.startswith(live.url) and loaded, src

    page.click("#preview-phone")
    expect(page.locator("#preview-viewport")).to_have_attribute("data-width", "phone")
    assert round(frame.bounding_box()["width"]) == 375
    page.click("#preview-dark")
    dark = page.frame_locator("#preview-frame").locator("html")
    expect(dark).to_have_css("filter", re.compile("invert"))
    expect(page.frame_locator("#preview-frame").locator("h1")).to_have_text("You left something behind")
    page.click("#preview-light")
    expect(dark).to_have_css("filter", "none")
    page.click("#preview-desktop")
    assert frame.bounding_box()["width"] >= 600


def test_the_sms_editor_shows_the_text_on_a_phone(page, world):
    log_in(page, MARKETER)
    page.goto("/admin/templates/edit/sms/abandoned_cart/step1")
    phone = page.locator("#sms-phone")
    expect(phone).to_be_visible()
    expect(phone.locator(".rt-sms-bubble")).to_contain_text("Acme Mugs")
    expect(page.locator("#sms-sender")).not_to_be_empty()
    assert phone.bounding_box()["width"] <= 320


@pytest.mark.parametrize("size", [WIDE, NARROW], ids=["1366", "390"])
def test_every_editor_page_fits_its_window(page, world, size, tmp_path):
    page.set_viewport_size(size)
    log_in(page, MARKETER)
    page.goto(STEP2)
    page.click("#start-visual")
    settled(page)
    page.click("#save-template")  # a visual template, so both modes are seen
    for path, mode in (("/admin/templates/", None), (STEP2, "visual"), (STEP2, "code"),
                       ("/admin/templates/edit/email/abandoned_cart/step1", "code"),
                       ("/admin/templates/edit/sms/abandoned_cart/step1", None)):
        page.goto(path)
        if mode:
            page.click(f"#mode-{mode}")
            expect(page.locator("#template-editor")).to_have_attribute("data-mode", mode)
        for width in ("phone", "desktop"):
            if page.locator("#preview-controls").count():
                page.click(f"#preview-{width}")
            overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (path, mode, width, overflow, page.evaluate(WIDER_THAN_THE_WINDOW))
        if path == STEP2 and mode == "visual" and size is NARROW:
            page.screenshot(path=str(screenshot_dir(tmp_path) / "admin-template-visual-editor-390.png"),
                            full_page=True)


def test_without_javascript_the_editor_is_a_textarea_that_saves(browser, live, world):
    context = browser.new_context(base_url=live.url, viewport=WIDE, java_script_enabled=False)
    try:
        tab = context.new_page()
        log_in(tab, MARKETER)
        tab.goto(STEP2)
        expect(tab.locator("#visual-editor")).to_be_hidden()
        source = tab.locator("#template-source")
        expect(source).to_be_visible()
        source.fill(source.input_value().replace("<h1>Can we help with anything?</h1>", "<h1>Typed without JS</h1>"))
        tab.click("#save-template")
        expect(tab.locator(".alert-success")).to_contain_text("Saved as version 1")
        expect(tab.frame_locator("#preview-frame").locator("h1")).to_have_text("Typed without JS")
    finally:
        context.close()
