"""The dashboard's checklist in Chromium at a laptop's and a phone's width: readable, inside the screen, and each
link leads to where the item is done."""
from __future__ import annotations

import pytest

from tests.browser import OWNER, WIDTHS, expect, log_in


@pytest.mark.parametrize("width", WIDTHS)
def test_the_checklist_fits_the_screen_and_its_links_lead_to_the_work(page, world, width):
    log_in(page, OWNER, width=width)
    page.goto("/admin/")
    checklist = page.locator("#checklist")
    expect(checklist).to_be_visible()
    expect(checklist.locator(".card-header")).to_contain_text("1 of 5 done")  # the shop has sent carts already
    expect(checklist.locator("[data-item='store_connected']")).to_have_attribute("data-done", "yes")
    for item in checklist.locator(".checklist-item").all():
        box = item.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (width, box)
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    checklist.locator("[data-item='sequence_reviewed'] a").click()
    expect(page.locator("#sequence-looks-good")).to_be_visible()
    page.click("#sequence-looks-good")
    expect(page.locator("#sequence-review")).to_contain_text("Confirmed")
    page.goto("/admin/")
    expect(page.locator("[data-item='sequence_reviewed']")).to_have_attribute("data-done", "yes")
    expect(page.locator("#checklist .card-header")).to_contain_text("2 of 5 done")

    page.locator("[data-item='automations_chosen'] a").click()
    page.click("#automations-keep")
    page.goto("/admin/")
    expect(page.locator("#checklist .card-header")).to_contain_text("3 of 5 done")
