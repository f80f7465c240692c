"""The admin inbox in Debian's Chromium (Playwright, never a downloaded browser), at a desktop width (1366 px) and a
phone width (390 px): the list, opening a thread, replying (the outbox gets one message), an inbound message
appearing without a reload (inbox.js polls), assign/close/reopen, and the agent seeing only the inbox. Skipped
without /usr/bin/chromium unless REQUIRE_BROWSER=1; the admin's CSP (no inline scripts) holds on every page."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from retainful import conversations, users
from retainful.extensions import db
from retainful.models import ConversationMessage, Customer, Role
from tests.browser import OWNER, PASSWORD, WIDTHS, expect, log_in

AGENT = "agent@acme.test"


@pytest.fixture
def talk(live, world):
    """Carol wrote back to store A by SMS; an agent of store A."""
    app = live.app
    with app.app_context():
        users.create_user(AGENT, PASSWORD, Role.AGENT, [world["a"].store_id])
        carol = db.session.scalar(sa.select(Customer).where(Customer.email == "carol@acme.example"))
        message = conversations.receive(carol, "sms", "The delivery fee surprised me", provider_message_id="b-1")
        return {"carol": carol.id, "conversation": message.conversation_id, **world}


@pytest.mark.parametrize("width", WIDTHS)
def test_an_agent_answers_a_shopper_in_the_inbox(page, live, talk, width):
    log_in(page, AGENT, width=width, height=800)
    expect(page.locator("#inbox-list")).to_contain_text("Carol")
    expect(page.locator(".inbox-row .inbox-unread")).to_have_text("1")
    page.click("#inbox-list a")
    expect(page.locator("#thread-messages")).to_contain_text("The delivery fee surprised me")
    expect(page.locator("#thread-cart-total")).to_be_visible()
    page.fill("#reply-text", "Hi {{ customer.first_name }}, shipping is free over $50.")
    page.click("#reply-button")
    expect(page.locator("#thread-messages")).to_contain_text("Hi Carol, shipping is free over $50.")
    with live.app.app_context():
        outbound = db.session.scalars(sa.select(ConversationMessage).where(
            ConversationMessage.direction == "outbound")).all()
        assert len(outbound) == 1 and outbound[0].outbox_message_id
        carol = db.session.get(Customer, talk["carol"])
        conversations.receive(carol, "sms", "Great, ordering now", provider_message_id="b-2")
    expect(page.locator("#thread-messages")).to_contain_text("Great, ordering now", timeout=15_000)  # no reload
    page.click("#assign-button")
    expect(page.locator("#unassign-button")).to_be_visible()
    page.click("#close-button")
    expect(page.locator("#thread-status")).to_have_text("closed")
    page.click("#reopen-button")
    expect(page.locator("#thread-status")).to_have_text("open")
    # The agent's menu has the inbox and nothing else; the other pages answer 403.
    assert page.locator('a[href="/admin/carts/"]').count() == 0
    assert page.goto(f"{live.url}/admin/carts/").status == 403
    assert page.goto(f"{live.url}/admin/settings/").status == 403


@pytest.mark.parametrize("width", WIDTHS)
def test_an_owner_sees_the_inbox_and_new_conversations_appear_in_the_list(page, live, talk, width):
    log_in(page, OWNER, width=width, height=800)
    page.goto(f"{live.url}/admin/inbox/")
    expect(page.locator(".inbox-row")).to_have_count(1)
    with live.app.app_context():
        alice = db.session.scalar(sa.select(Customer).where(Customer.email == "alice@acme.example"))
        conversations.receive(alice, "email", "Do you ship to Canada?", provider_message_id="b-3")
    expect(page.locator(".inbox-row")).to_have_count(2, timeout=15_000)  # no reload
    expect(page.locator("#inbox-list")).to_contain_text("Alice")
