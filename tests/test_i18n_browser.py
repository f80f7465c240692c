"""The admin's languages in a real browser (Debian's Chromium, Playwright): a Korean browser gets the Korean login
page, the user menu's language switches the whole panel (kept on the account), and the scripts' words follow
(<meta name="rt-words">). SQLite only; skipped without Chromium unless REQUIRE_BROWSER=1."""
from __future__ import annotations

import pytest

from tests.browser import OWNER, PASSWORD, build_world, expect, open_menu, open_tab


@pytest.fixture(params=[{"width": 1366, "height": 900}, {"width": 390, "height": 844}], ids=["1366", "390"])
def korean_page(request, browser, live):
    """A fresh context whose browser asks for Korean (Accept-Language: ko-KR); fails on open_tab's problems."""
    context, tab, problems = open_tab(browser, live, request.param, locale="ko-KR")
    yield tab
    context.close()
    assert problems == []


def _choose(page, language):
    """The language in the user menu (the navbar collapses at 390 px: open it first)."""
    open_menu(page)
    page.click("#current-user")
    page.click(f"#language-{language}")


def test_a_korean_browser_logs_in_in_korean_and_the_language_menu_switches_the_panel(korean_page, live,
                                                                                     frozen_clock):
    build_world(live.app)
    page = korean_page
    page.goto("/admin/login")
    expect(page.locator("#login-button")).to_have_text("로그인")
    page.fill("#email", OWNER)
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    expect(page.locator("#logout-button")).to_have_text("로그아웃")
    for path in ("/admin/settings/", "/admin/reports/", "/admin/carts/?status=abandoned"):
        page.goto(path)  # Korean words must fit too: no page scrolls sideways
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
    expect(page.locator("#filter-button")).to_have_text("필터")

    _choose(page, "en")  # back on the same page
    expect(page.locator("#filter-button")).to_have_text("Filter")
    assert page.url.endswith("/admin/carts/?status=abandoned")
    page.goto("/admin/settings/")
    expect(page.locator("#logout-button")).to_have_text("Log out")  # the account's choice beats the browser's

    _choose(page, "ko")
    expect(page.locator("#save-settings")).to_have_text("저장")
    copy = page.locator("button[data-copy]").first
    copy.click()
    expect(copy).to_have_text("복사됨")  # a script's word, from <meta name="rt-words">
