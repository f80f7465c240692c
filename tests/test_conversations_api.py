"""The helpdesk API: list and read conversations with their messages in order, reply (queued, 202), close, confirm
the reason; another store's conversation is a 404 like an unknown one, and hostile input a 400 naming the field."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from retainful import clock, conversations
from retainful.extensions import db
from retainful.models import Conversation, ConversationMessage, Customer, Message, Store

NUL, SURROGATE = "\x00", "\ud800"


def open_conversation(app, shop, texts=("Hi, the shipping cost was more than the mug?",), phone="+12025550143"):
    with app.app_context():
        customer = Customer(store_id=shop.store_id, phone=phone, first_name="Alice", sms_consent=True)
        db.session.add(customer)
        db.session.commit()
        for text in texts:
            message = conversations.receive(customer, "sms", text)
            clock.advance(timedelta(minutes=1))
        return message.conversation_id


def call(shop, method, path, body=None, **kwargs):
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return shop.client.open(f"/api/v1{path}", method=method, headers=shop.headers, **kwargs)


@pytest.fixture
def other(make_store):
    return make_store(name="Other Shop", domain="other.example")


def test_a_conversation_reads_with_its_messages_in_order_and_the_suggested_reason(app, shop):
    conversation_id = open_conversation(app, shop, ["hello?", "the shipping cost was more than the mug"])
    response = call(shop, "GET", f"/conversations/{conversation_id}")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["id"], body["status"], body["reason"], body["suggested_reason"]) == (
        conversation_id, "open", None, "unexpected_fees")
    assert [(m["direction"], m["channel"], m["text"]) for m in body["messages"]] == [
        ("inbound", "sms", "hello?"), ("inbound", "sms", "the shipping cost was more than the mug")]
    assert body["messages"][0]["at"] < body["messages"][1]["at"] and body["messages"][0]["author"] is None


def test_the_list_filters_by_status_and_pages(app, shop):
    first = open_conversation(app, shop, phone="+12025550101")
    second = open_conversation(app, shop, phone="+12025550102")
    assert call(shop, "POST", f"/conversations/{first}/close").get_json()["status"] == "closed"
    ids = lambda query: [c["id"] for c in call(shop, "GET", "/conversations", query_string=query).get_json()[
        "conversations"]]
    assert ids({}) == [second, first]
    assert ids({"status": "open"}) == [second] and ids({"status": "closed"}) == [first]
    assert ids({"limit": "1"}) == [second] and ids({"before_id": str(second)}) == [first]
    assert "messages" not in call(shop, "GET", "/conversations").get_json()["conversations"][0]


def test_a_reply_is_queued_through_the_outbox_with_the_agents_name(app, shop):
    conversation_id = open_conversation(app, shop)
    response = call(shop, "POST", f"/conversations/{conversation_id}/replies",
                    {"text": "Sorry! Here is free shipping: SHIPFREE", "agent_name": "Sarah from Acme"})
    assert response.status_code == 202
    body = response.get_json()
    assert (body["direction"], body["channel"], body["author"]) == ("outbound", "sms", "Sarah from Acme")
    with app.app_context():
        queued = db.session.get(Message, body["outbox_message_id"])
        assert (queued.kind, queued.status, queued.channel) == ("conversation_reply", "scheduled", "sms")
        assert db.session.get(Conversation, conversation_id).first_response_at is not None
    messages = call(shop, "GET", f"/conversations/{conversation_id}").get_json()["messages"]
    assert [m["direction"] for m in messages] == ["inbound", "outbound"]


def test_a_reply_without_an_agent_name_is_signed_with_the_persona(app, shop):
    conversation_id = open_conversation(app, shop)
    with app.app_context():
        db.session.get(Store, shop.store_id).persona_name = "Sam at Acme"
        db.session.commit()
    body = call(shop, "POST", f"/conversations/{conversation_id}/replies", {"text": "How can I help?"}).get_json()
    assert body["author"] == "Sam at Acme"


def test_the_agent_confirms_or_changes_the_reason_and_can_clear_it(app, shop):
    conversation_id = open_conversation(app, shop)
    response = call(shop, "PUT", f"/conversations/{conversation_id}/reason", {"reason": "price"})
    assert response.status_code == 200
    assert (response.get_json()["reason"], response.get_json()["suggested_reason"]) == ("price", "unexpected_fees")
    assert call(shop, "PUT", f"/conversations/{conversation_id}/reason", {"reason": None}).get_json()["reason"] is None


@pytest.mark.parametrize("method,suffix,body", [
    ("GET", "", None), ("POST", "/replies", {"text": "hi"}), ("POST", "/close", None),
    ("PUT", "/reason", {"reason": "price"})])
def test_another_stores_conversation_is_not_found_and_unchanged(app, shop, other, method, suffix, body):
    conversation_id = open_conversation(app, shop)
    response = call(other, method, f"/conversations/{conversation_id}{suffix}", body)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    with app.app_context():
        conversation = db.session.get(Conversation, conversation_id)
        assert (conversation.status, conversation.reason) == ("open", None)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ConversationMessage)) == 1
    assert call(other, "GET", "/conversations").get_json()["conversations"] == []


@pytest.mark.parametrize("conversation_id", ["0", "999", "abc", "-1", "1.0", "²", "99999999999999999999"])
def test_unknown_or_malformed_ids_are_not_found(app, shop, conversation_id):
    open_conversation(app, shop)
    assert call(shop, "GET", f"/conversations/{conversation_id}").status_code == 404


@pytest.mark.parametrize("body,field", [
    ({}, "text"), ({"text": ""}, "text"), ({"text": 42}, "text"), ({"text": ["hi"]}, "text"),
    ({"text": None}, "text"), ({"text": "x" * 5001}, "text"), ({"text": f"hi{NUL}"}, "text"),
    ({"text": f"hi {SURROGATE}"}, "text"), ({"text": "hi", "agent_name": 7}, "agent_name"),
    ({"text": "hi", "agent_name": "a" * 101}, "agent_name"), ({"text": "hi", "agent_name": f"S{NUL}"}, "agent_name"),
    ({"text": "   "}, "text")])
def test_a_bad_reply_is_a_400_naming_the_field_and_nothing_is_queued(app, shop, body, field):
    conversation_id = open_conversation(app, shop)
    response = call(shop, "POST", f"/conversations/{conversation_id}/replies", body)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert field in response.get_json()["error"]["fields"]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0


@pytest.mark.parametrize("body,field", [
    ({}, "reason"), ({"reason": "expensive"}, "reason"), ({"reason": 3}, "reason"), ({"reason": ["price"]}, "reason"),
    ({"reason": f"price{NUL}"}, "reason"), ({"reason": SURROGATE}, "reason")])
def test_a_bad_reason_is_a_400_naming_the_field(app, shop, body, field):
    conversation_id = open_conversation(app, shop)
    response = call(shop, "PUT", f"/conversations/{conversation_id}/reason", body)
    assert response.status_code == 400 and field in response.get_json()["error"]["fields"]


@pytest.mark.parametrize("query,field", [({"status": "pending"}, "status"), ({"status": f"open{NUL}"}, "status"),
                                         ({"limit": "0"}, "limit"), ({"limit": "1000"}, "limit"),
                                         ({"limit": "x"}, "limit"), ({"before_id": "-3"}, "before_id")])
def test_bad_list_parameters_are_a_400_naming_them(app, shop, query, field):
    response = call(shop, "GET", "/conversations", query_string=query)
    assert response.status_code == 400 and field in response.get_json()["error"]["fields"]


def test_a_huge_or_non_json_body_is_refused(app, shop):
    conversation_id = open_conversation(app, shop)
    path = f"/api/v1/conversations/{conversation_id}/replies"
    huge = shop.client.post(path, data=json.dumps({"text": "x" * 300_000}), content_type="application/json",
                            headers=shop.headers)
    assert huge.status_code == 413
    assert shop.client.post(path, data="text=hi", headers=shop.headers).status_code == 415
    assert shop.client.post(path, data="{", content_type="application/json", headers=shop.headers).status_code == 400


def test_without_the_api_key_nothing_is_shown(app, shop, client):
    conversation_id = open_conversation(app, shop)
    assert client.get(f"/api/v1/conversations/{conversation_id}").status_code == 401
    assert client.get("/api/v1/conversations", headers={"Authorization": "Bearer wrong"}).status_code == 401
