"""The campaign form in a real browser (Debian's Chromium, Playwright) at 1366 and 390 px: the live recipient count
follows the segment fields as they are typed, the campaign is created, its results page shows the chart; no
JavaScript error, CSP violation or horizontal scrolling at either width."""
from __future__ import annotations

import pytest

from tests.browser import MARKETER, WIDTHS, expect, log_in


@pytest.mark.parametrize("width", WIDTHS)
def test_a_marketer_creates_a_campaign_with_a_live_count(page, world, width):
    log_in(page, MARKETER, width=width)
    page.goto("/admin/campaigns/new")
    count = page.locator("#recipient-count")
    expect(count).to_have_attribute("data-state", "ready")
    expect(count).to_have_text("3")  # Carol, Alice and Dave agreed to email
    page.fill("#country", "US")  # only Carol has a phone, hence a country
    expect(count).to_have_text("1")
    page.fill("#country", "USA")
    expect(count).to_have_attribute("data-state", "error")
    expect(page.locator("#recipient-count-error")).to_contain_text("segment.country.0")
    page.fill("#country", "")
    expect(count).to_have_text("3")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), "scrolls sideways"
    page.fill("#name", "Spring arrivals")
    page.click("#create-campaign")
    expect(page.locator("#campaign-name")).to_contain_text("Spring arrivals")
    expect(page.locator("#result-recipient_count")).to_have_text("3")
    expect(page.locator("#campaign-chart canvas")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), "scrolls sideways"
