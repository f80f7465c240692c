"""People in chromium at 1366 and 390 px: an owner invites a marketer, the invitee opens the emailed link (read from
the SendGrid stub), sets a name and password, lands in the store, and logs in again with that password; "forgot
password" from the login page answers without saying whether the address has an account."""
from __future__ import annotations

import re

import pytest

from tests.browser import OWNER, expect, log_in, open_tab
from tests.test_people import link_in

WIDTHS = {"desktop": {"width": 1366, "height": 800}, "phone": {"width": 390, "height": 844}}
NEW_PASSWORD = "a long new passphrase"


@pytest.fixture(params=list(WIDTHS))
def viewport(request):
    return WIDTHS[request.param]


def fits(page, selector, viewport):
    """The element lies within the window's width (nothing to scroll sideways for)."""
    box = page.locator(selector).bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"] + 1, (selector, box)


def test_invite_accept_and_log_in(browser, live, world, sendgrid_stub, viewport):
    owner_context, owner, problems = open_tab(browser, live, viewport)
    invitee_context, invitee, invitee_problems = open_tab(browser, live, viewport)
    try:
        log_in(owner, OWNER)
        owner.goto("/admin/people/")
        expect(owner.locator("#people-table tr.person")).to_have_count(2)  # the owner and the marketer of store A
        fits(owner, "#invite-form", viewport)
        owner.fill("#invite-form #email", "nia@acme.test")
        owner.select_option("#invite-form #role", "marketer")
        owner.click("#invite-button")
        expect(owner.locator("#invitations li.invitation")).to_contain_text("nia@acme.test")

        invitee.goto(link_in(sendgrid_stub, "invite"))
        expect(invitee.locator("#invite-summary")).to_contain_text("marketer")
        fits(invitee, "#accept-form", viewport)
        invitee.fill("#name", "Nia Novak")
        invitee.fill("#password", NEW_PASSWORD)
        invitee.fill("#confirm_password", NEW_PASSWORD)
        invitee.click("#accept-button")
        expect(invitee).to_have_url(re.compile(r"/admin/$"))
        expect(invitee.locator("#current-user")).to_have_attribute("data-role", "marketer")

        invitee.goto("/admin/account")
        fits(invitee, "#password-form", viewport)
        if viewport["width"] < 992:
            invitee.click("button.navbar-toggler")  # the collapsed menu holds the logout button
        invitee.click("#logout-button")
        log_in(invitee, "nia@acme.test", NEW_PASSWORD)
        owner.goto("/admin/people/")
        expect(owner.locator("#people-table tr.person")).to_have_count(3)

        anonymous_context, anonymous, anonymous_problems = open_tab(browser, live, viewport)
        try:
            anonymous.goto("/admin/login")
            anonymous.click("#forgot-link")
            anonymous.fill("#email", "nobody@acme.test")
            anonymous.click("#forgot-button")
            expect(anonymous.locator("#forgot-sent")).to_contain_text("If an account exists")
            fits(anonymous, "#forgot-form", viewport)
        finally:
            anonymous_context.close()
        assert not anonymous_problems, anonymous_problems
    finally:
        owner_context.close()
        invitee_context.close()
    assert not problems and not invitee_problems, problems + invitee_problems
