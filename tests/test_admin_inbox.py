"""The admin inbox through the Flask test client: the agent role (the inbox only, of its stores), the list with
unread counts, the thread beside cart, orders and consent, replies through the outbox exactly once (token), merge
variables and a coupon minted only when sent, assign/close/reopen, the reason, the JSON the page polls, canned
replies and the persona form, and hostile input."""
from __future__ import annotations

import json
import re
import threading

import pytest
import sqlalchemy as sa
from markupsafe import escape

from retainful import conversations
from retainful.extensions import db
from retainful.models import (CannedReply, Conversation, ConversationMessage, Coupon, Customer, Message, Role,
                              Step, Store)
from tests.test_admin import add_user, csrf_token, logged_in, pages, post, text, world  # noqa: F401 - fixture

INBOX = "/admin/inbox/"


@pytest.fixture
def inbox(world, app):
    """An agent of store A, and an open SMS conversation from carol in each store."""
    ids = dict(world)
    ids["agent"] = add_user(app, "agent@acme.test", Role.AGENT, [world["a"]["store"]])
    with app.app_context():
        for key in ("a", "b"):
            carol = db.session.get(Customer, world[key]["customer"])
            ids[f"conv_{key}"] = conversations.receive(carol, "sms", "Is shipping free? The fee surprised me",
                                                       provider_message_id=f"in-{key}-1").conversation_id
    return ids


def _thread(inbox_ids, key="a"):
    return f"{INBOX}{inbox_ids[f'conv_{key}']}"


def _reply_token(page: str) -> str:
    return re.search(r'name="reply_token" value="([^"]+)"', page).group(1)


def _outbound(app, conversation_id):
    with app.app_context():
        return list(db.session.scalars(sa.select(ConversationMessage).where(
            ConversationMessage.conversation_id == conversation_id, ConversationMessage.direction == "outbound")))


def test_the_agent_sees_only_the_inbox_of_its_stores(inbox, app):
    agent = logged_in(app, inbox["agent"])
    home = agent.get("/admin/")
    assert home.status_code == 302 and home.headers["Location"].endswith(INBOX)
    page = text(agent.get(INBOX))
    assert "Carol" in page and 'href="/admin/carts/"' not in page and 'href="/admin/settings/"' not in page
    assert agent.get(_thread(inbox)).status_code == 200
    for path in pages(inbox["a"]):
        if path == "/admin/":
            continue
        assert agent.get(path).status_code == 403, path
    assert agent.get(_thread(inbox, "b")).status_code == 404  # another store's conversation
    assert agent.get(f"{INBOX}canned").status_code == 403  # writing canned replies is the owner's
    assert post(agent, "/admin/settings/persona", {"persona_name": "X"}, token=csrf_token(agent, INBOX)).status_code \
        == 403


@pytest.mark.parametrize("role, status", [("owner", 200), ("admin", 200), ("marketer", 403)])
def test_owners_and_admins_answer_too_marketers_do_not(inbox, app, role, status):
    client = logged_in(app, inbox["users"][role])
    assert client.get(INBOX).status_code == status
    assert client.get(_thread(inbox)).status_code == status


def test_the_list_shows_unread_counts_and_reading_the_thread_clears_them(inbox, app):
    agent = logged_in(app, inbox["agent"])
    rows = agent.get(f"{INBOX}list.json").get_json()["conversations"]
    assert [(r["id"], r["unread"]) for r in rows] == [(inbox["conv_a"], 1)]
    assert rows[0]["age_seconds"] == 0
    page = text(agent.get(_thread(inbox)))
    assert "Is shipping free?" in page and 'id="thread-cart-total"' in page and 'id="consent-sms"' in page
    assert "SAVE" in page  # the cart's recovery coupon
    assert agent.get(f"{INBOX}list.json").get_json()["conversations"][0]["unread"] == 0
    assert agent.get(f"{INBOX}list.json?status=bogus").status_code == 400


def test_a_reply_goes_through_the_outbox_once_with_merge_variables(inbox, app):
    agent = logged_in(app, inbox["agent"])
    page = text(agent.get(_thread(inbox)))
    form = {"text": "Hi {{ customer.first_name }}, here is your cart: {{ recovery_link }}",
            "reply_token": _reply_token(page)}
    token = csrf_token(agent, INBOX)
    assert post(agent, f"{_thread(inbox)}/reply", form, token=token).status_code == 302
    again = post(agent, f"{_thread(inbox)}/reply", form, token=token)  # a resubmitted form
    assert again.status_code == 302
    sent = _outbound(app, inbox["conv_a"])
    assert len(sent) == 1
    assert sent[0].text == "Hi Carol, here is your cart: https://acme.example/cart"
    assert sent[0].agent_user_id == inbox["agent"] and sent[0].outbox_message_id
    with app.app_context():
        assert db.session.get(Message, sent[0].outbox_message_id).kind == "conversation_reply"


def test_a_double_click_sends_once(inbox, app):
    agent = logged_in(app, inbox["agent"])
    form = {"text": "On its way", "reply_token": _reply_token(text(agent.get(_thread(inbox))))}
    token = csrf_token(agent, INBOX)
    answers = []

    def click():
        answers.append(post(agent, f"{_thread(inbox)}/reply", form, token=token).status_code)

    threads = [threading.Thread(target=click) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert answers == [302, 302]
    assert len(_outbound(app, inbox["conv_a"])) == 1


def test_a_coupon_is_minted_only_when_the_reply_is_sent(inbox, app):
    with app.app_context():
        step = db.session.scalars(sa.select(Step).where(Step.store_id == inbox["a"]["store"])
                                  .order_by(Step.position)).first()
        step.coupon_type, step.coupon_amount, step.coupon_valid_hours = "percent", 10, 48
        db.session.commit()

    def coupons():
        with app.app_context():
            return db.session.scalar(sa.select(sa.func.count()).select_from(Coupon).where(
                Coupon.kind == "conversation"))

    agent = logged_in(app, inbox["agent"])
    page = text(agent.get(_thread(inbox)))
    assert coupons() == 0
    too_long = {"text": "{{ coupon }}" + "x" * 5000, "reply_token": _reply_token(page)}
    refused = post(agent, f"{_thread(inbox)}/reply", too_long, token=csrf_token(agent, INBOX))
    assert refused.status_code == 400 and coupons() == 0  # not sent: no coupon left behind
    page = text(refused)
    form = {"text": "Here is 10% off: {{ coupon }}", "reply_token": _reply_token(page)}
    post(agent, f"{_thread(inbox)}/reply", form, token=csrf_token(agent, INBOX))
    assert coupons() == 1
    with app.app_context():
        code = db.session.scalar(sa.select(Coupon.code).where(Coupon.kind == "conversation"))
    assert _outbound(app, inbox["conv_a"])[0].text == f"Here is 10% off: {code}"


@pytest.mark.parametrize("source, field_text", [
    ("{{ cycler.__init__.__globals__ }}", "not allowed"), ("{{ 'x' * 10**10 }}", "too expensive"),
    ("{% for %}", "line 1"), ("{{ ''.__class__ }}", "required"), ("", "required")])
def test_bad_reply_texts_are_400s_and_send_nothing(inbox, app, source, field_text):
    agent = logged_in(app, inbox["agent"])
    form = {"text": source, "reply_token": _reply_token(text(agent.get(_thread(inbox))))}
    answer = post(agent, f"{_thread(inbox)}/reply", form, token=csrf_token(agent, INBOX))
    assert answer.status_code == 400
    error = re.search(r'<div class="invalid-feedback" id="reply-text-error">([^<]*)</div>', text(answer)).group(1)
    assert field_text in error.lower()  # said at the reply box, which keeps the text as typed
    assert 'id="reply-text" name="text"' in text(answer) and f">{escape(source)}</textarea>" in text(answer)
    assert _outbound(app, inbox["conv_a"]) == []


def test_a_refused_reply_keeps_its_text_and_sends_once_when_corrected(inbox, app):
    agent = logged_in(app, inbox["agent"])
    token, path = csrf_token(agent, INBOX), f"{_thread(inbox)}/reply"
    first = _reply_token(text(agent.get(_thread(inbox))))
    refused = post(agent, path, {"text": "Hi {{ customer.first_name", "reply_token": first}, token=token)
    page = text(refused)
    assert refused.status_code == 400 and 'id="reply-text-error">Line 1' in page
    assert ">Hi {{ customer.first_name</textarea>" in page and 'aria-invalid="true"' in page
    second = _reply_token(page)
    assert second != first  # the refused page is a new form with its own one-time token
    fixed = {"text": "Hi {{ customer.first_name }}", "reply_token": second}
    assert post(agent, path, fixed, token=token).status_code == 302
    again = post(agent, path, fixed, token=token, follow_redirects=True)  # the same form sent twice
    assert "That reply was sent already." in text(again)
    assert [m.text for m in _outbound(app, inbox["conv_a"])] == ["Hi Carol"]


def test_a_refused_canned_reply_says_why_at_each_field_with_the_text_kept(inbox, app):
    owner = logged_in(app, inbox["users"]["owner"])
    token = csrf_token(owner, INBOX)
    refused = post(owner, f"{INBOX}canned/new", {"title": "", "text": "{% for %} typed"}, token=token)
    page = text(refused)
    assert refused.status_code == 400
    assert 'id="canned-title-error">Required, at most 100 characters.<' in page
    assert re.search(r'id="canned-text-error">Line 1: ', page) and ">{% for %} typed</textarea>" in page
    added = post(owner, f"{INBOX}canned/new", {"title": "Shipping", "text": "Free over $50"}, token=token)
    assert added.status_code == 302
    with app.app_context():
        canned_id = db.session.scalar(sa.select(CannedReply.id))
    refused = post(owner, f"{INBOX}canned/{canned_id}", {"title": "x" * 101, "text": "Changed"}, token=token)
    page = text(refused)
    assert refused.status_code == 400 and f'id="canned-{canned_id}-title-error">Required' in page
    assert f'value="{"x" * 101}"' in page and ">Changed</textarea>" in page  # that form, as typed
    assert 'id="canned-title-error"' not in page  # the new reply's form is not the one refused
    with app.app_context():
        assert db.session.get(CannedReply, canned_id).title == "Shipping"


@pytest.mark.parametrize("form", [{"text": "hi"}, {"text": "hi", "reply_token": "short"},
                                  {"text": "hi\x00", "reply_token": "a" * 30},
                                  {"text": "hi", "reply_token": "a" * 500}])
def test_hostile_reply_forms_send_nothing(inbox, app, form):
    agent = logged_in(app, inbox["agent"])
    assert post(agent, f"{_thread(inbox)}/reply", form, token=csrf_token(agent, INBOX)).status_code == 400
    assert _outbound(app, inbox["conv_a"]) == []


def test_another_stores_conversation_is_404_for_every_action(inbox, app):
    owner = logged_in(app, inbox["users"]["owner"])
    token = csrf_token(owner, INBOX)
    for action in ("reply", "assign", "close", "reopen", "reason"):
        answer = post(owner, f"{_thread(inbox, 'b')}/{action}", {"text": "x", "reply_token": "a" * 30}, token=token)
        assert answer.status_code == 404, action
    assert owner.get(f"{_thread(inbox, 'b')}/messages.json").status_code == 404
    assert _outbound(app, inbox["conv_b"]) == []


def test_assign_close_reopen_and_reason(inbox, app):
    agent = logged_in(app, inbox["agent"])
    token = csrf_token(agent, INBOX)
    post(agent, f"{_thread(inbox)}/assign", {}, token=token)
    with app.app_context():
        assert db.session.get(Conversation, inbox["conv_a"]).assigned_user_id == inbox["agent"]
    assert 'id="unassign-button"' in text(agent.get(_thread(inbox)))
    post(agent, f"{_thread(inbox)}/close", {}, token=token)
    assert agent.get(f"{INBOX}list.json").get_json()["conversations"] == []
    assert [r["id"] for r in agent.get(f"{INBOX}list.json?status=closed").get_json()["conversations"]] \
        == [inbox["conv_a"]]
    post(agent, f"{_thread(inbox)}/reopen", {}, token=token)
    post(agent, f"{_thread(inbox)}/reason", {"reason": "unexpected_fees"}, token=token)
    bad = post(agent, f"{_thread(inbox)}/reason", {"reason": "bogus"}, token=token)
    assert bad.status_code == 400
    with app.app_context():
        conversation = db.session.get(Conversation, inbox["conv_a"])
        assert (conversation.status, conversation.reason) == ("open", "unexpected_fees")


def test_the_polled_json_brings_new_inbound_messages(inbox, app):
    agent = logged_in(app, inbox["agent"])
    page = text(agent.get(_thread(inbox)))
    after = re.search(r'data-after="(\d+)"', page).group(1)
    assert agent.get(f"{_thread(inbox)}/messages.json?after={after}").get_json()["messages"] == []
    with app.app_context():
        carol = db.session.get(Customer, inbox["a"]["customer"])
        conversations.receive(carol, "sms", "Also: do you ship to Canada?", provider_message_id="in-a-2")
    fresh = agent.get(f"{_thread(inbox)}/messages.json?after={after}").get_json()["messages"]
    assert [m["text"] for m in fresh] == ["Also: do you ship to Canada?"]
    stamp = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d [A-Z]+$")  # the store's clock, as the page shows it
    assert stamp.match(fresh[0]["at_local"]), fresh[0]["at_local"]
    shown = re.findall(r'class="thread-at">([^<]*)<', page)
    assert shown and all(stamp.match(at) for at in shown), shown  # not an ISO stamp with microseconds
    for bad in ("x", "-1", "9" * 40, "%C2%B2", "%ED%A0%80", "%00"):  # ... a lone surrogate's bytes, a NUL
        assert agent.get(f"{_thread(inbox)}/messages.json?after={bad}").status_code == 400


def test_canned_replies_crud_and_use(inbox, app):
    owner = logged_in(app, inbox["users"]["owner"])
    token = csrf_token(owner, INBOX)
    assert post(owner, f"{INBOX}canned/new", {"title": "Shipping", "text": "Hi {{ customer.first_name }}!"},
                token=token).status_code == 302
    assert post(owner, f"{INBOX}canned/new", {"title": "Bad", "text": "{% for %}"}, token=token).status_code == 400
    assert post(owner, f"{INBOX}canned/new", {"title": "", "text": "x"}, token=token).status_code == 400
    with app.app_context():
        canned = db.session.scalar(sa.select(CannedReply).where(CannedReply.store_id == inbox["a"]["store"]))
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CannedReply)) == 1
    agent = logged_in(app, inbox["agent"])
    assert 'data-text="Hi {{ customer.first_name }}!"' in text(agent.get(_thread(inbox)))
    post(owner, f"{INBOX}canned/{canned.id}", {"title": "Shipping", "text": "Changed"}, token=token)
    assert post(owner, f"{INBOX}canned/{canned.id}", {"title": "x" * 101, "text": "y"}, token=token).status_code == 400
    with app.app_context():
        assert db.session.get(CannedReply, canned.id).text == "Changed"
    other_owner = logged_in(app, inbox["users"]["other_owner"])
    other_token = csrf_token(other_owner, INBOX)
    assert post(other_owner, f"{INBOX}canned/{canned.id}/delete", {}, token=other_token).status_code == 404
    post(owner, f"{INBOX}canned/{canned.id}/delete", {}, token=token)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CannedReply)) == 0


def test_the_persona_form_signs_replies(inbox, app):
    owner = logged_in(app, inbox["users"]["owner"])
    token = csrf_token(owner, INBOX)
    assert post(owner, "/admin/settings/persona", {"persona_name": "Sarah from Acme", "persona_signature": "Sarah"},
                token=token).status_code == 302
    assert 'value="Sarah from Acme"' in text(owner.get("/admin/settings/"))
    assert post(owner, "/admin/settings/persona", {"persona_name": "x" * 200}, token=token).status_code == 400
    form = {"text": "Hello", "reply_token": _reply_token(text(owner.get(_thread(inbox))))}
    post(owner, f"{_thread(inbox)}/reply", form, token=token)
    assert _outbound(app, inbox["conv_a"])[0].author == "Sarah from Acme"
    with app.app_context():
        assert db.session.get(Store, inbox["a"]["store"]).persona_signature == "Sarah"



def test_the_conversations_report_page_and_the_reasons_chart(inbox, app):
    owner = logged_in(app, inbox["users"]["owner"])
    token = csrf_token(owner, INBOX)
    post(owner, f"{_thread(inbox)}/reason", {"reason": "unexpected_fees"}, token=token)
    post(owner, f"{_thread(inbox)}/reply", {"text": "Shipping is free over $50",
                                           "reply_token": _reply_token(text(owner.get(_thread(inbox))))}, token=token)
    page = text(owner.get("/admin/reports/conversations?days=7"))
    assert re.search(r'id="conv-opened">1<', page) and re.search(r'id="conv-replied">1<', page)
    assert 'id="reasons-chart"' in page
    fees = re.search(r'<tr data-reason="unexpected_fees">(.*?)</tr>', page, re.S).group(1)
    assert "<td>1</td>" in fees  # one cart gave this reason
    chart = json.loads(re.search(r'<figure class="rt-chart mb-0" id="reasons-chart".*?<script type="application/json" '
                                 r'class="rt-chart-data">(.*?)</script>', page, re.S).group(1))
    carts, recovered = chart["datasets"]
    assert (carts["label"], recovered["label"]) == ("Carts", "Recovered") and chart["table_id"] == "reasons-table"
    assert carts["data"][chart["labels"].index("unexpected fees")] == 1
    assert 'id="conversations-report-link"' in text(owner.get("/admin/reports/"))
    assert owner.get("/admin/reports/conversations?from=2026-13-01").status_code == 400
    agent = logged_in(app, inbox["agent"])
    assert agent.get("/admin/reports/conversations").status_code == 403


def test_a_token_acts_once_and_is_forgotten_after_thirty_days(app, frozen_clock):
    from datetime import timedelta

    from retainful import clock, once

    with app.app_context():
        assert once.claim("reply:abc") is True
        db.session.commit()
        assert once.claim("reply:abc") is False
        db.session.rollback()
        clock.advance(once.KEEP + timedelta(minutes=1))
        assert once.claim("reply:abc") is True
        db.session.commit()


def test_an_agent_needs_a_store(app):
    from retainful import users

    with app.app_context(), pytest.raises(users.UserError, match="an agent needs at least one store"):
        users.create_user("agent@nowhere.test", "correct horse battery", Role.AGENT, [])
