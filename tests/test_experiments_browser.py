"""The Experiments pages in Debian's Chromium (Playwright, never a downloaded browser) at 1366 px and 390 px: a
marketer starts a test from an automation step, and the variants stand side by side on a desktop and stack on a
phone. Skipped without /usr/bin/chromium unless REQUIRE_BROWSER=1; the admin's CSP holds on every page."""
from __future__ import annotations

import pytest

from tests.browser import MARKETER, WIDTHS, expect, log_in
from tests.test_experiments import B_EMAIL


@pytest.mark.parametrize("width", WIDTHS)
def test_a_marketer_starts_a_test_and_reads_the_variants_side_by_side(page, live, world, width):
    log_in(page, MARKETER, width=width)
    page.goto("/admin/automations/")
    page.click("#ab-test-abandoned_cart-2")
    expect(page.locator("#subject")).to_have_value("automation:abandoned_cart:2")
    page.fill("#name-2", "Friendlier")
    page.fill("#email-source-2", B_EMAIL)
    page.fill("#name-3", "Step 3's")
    page.select_option("#email-key-3", "abandoned_cart/step3")
    page.click("#start-experiment")
    expect(page.locator("#experiment-state")).to_have_text("running")
    cards = page.locator(".variant-card")
    expect(cards).to_have_count(3)
    boxes = [cards.nth(i).bounding_box() for i in range(3)]
    if width >= 1200:
        assert boxes[0]["y"] == boxes[1]["y"] == boxes[2]["y"], "side by side on a desktop"
        assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"]
    else:
        assert boxes[0]["y"] < boxes[1]["y"] < boxes[2]["y"], "stacked on a phone"
        assert all(box["x"] + box["width"] <= width for box in boxes), "no card wider than the screen"
    expect(page.locator("#variant-2 .variant-name")).to_have_text("Friendlier")
    expect(page.locator("#experiment-rule")).to_contain_text("mSPRT")
    page.click("#stop-button")
    expect(page.locator("#experiment-state")).to_have_text("stopped")
    page.goto("/admin/experiments/")
    expect(page.locator("#experiments-table tr[data-state=stopped]")).to_have_count(1)
