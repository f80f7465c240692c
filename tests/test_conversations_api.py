"""The helpdesk API: list and read conversations with their messages in order, reply (queued, 202), close, confirm
the reason; another store's conversation is a 404 like an unknown one, and hostile input a 400 naming the field."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from retainful import carts, clock, conversations
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


# --- the conversation credit and the reports ----------------------------------------------------------------------

def shopper_with_cart(app, shop, token="conv-cart"):
    from tests.conftest import cart_body

    assert shop.put_cart(token, cart_body()).status_code in (200, 201)
    clock.advance(timedelta(hours=2))
    with app.app_context():
        carts.sweep_abandoned()  # an abandoned cart: the recovery cohort
        customer = db.session.scalars(sa.select(Customer).where(Customer.store_id == shop.store_id)).one()
        message = conversations.receive(customer, "email", "is there any way to avoid the shipping fee?")
        return message.conversation_id


def send_reply(app, shop, conversation_id, text="Use SHIPFREE for free shipping!"):
    body = call(shop, "POST", f"/conversations/{conversation_id}/replies", {"text": text}).get_json()
    with app.app_context():  # the outbox sent it
        queued = db.session.get(Message, body["outbox_message_id"])
        queued.status, queued.sent_at = "sent", clock.now()
        db.session.commit()
        return queued.id


def order(shop, token="conv-cart", order_id="conv-1", total="36.95"):
    response = shop.post_order({"order_id": order_id, "total": total, "currency": "USD", "status": "processing",
                                "cart_token": token, "customer": {"email": "alice@example.com"}})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def period(shop, path):
    today = clock.now().date().isoformat()
    response = call(shop, "GET", f"/reports/{path}", query_string={"from": "2026-01-01", "to": today})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_an_order_within_7_days_of_the_shoppers_message_is_credited_to_the_conversation(app, shop):
    conversation_id = shopper_with_cart(app, shop)
    clock.advance(timedelta(minutes=30))
    reply_id = send_reply(app, shop, conversation_id)
    clock.advance(timedelta(days=6, hours=23))
    body = order(shop)
    assert (body["attribution_rule"], body["recovered"], body["attributed_message_id"]) == (
        "conversation", True, reply_id)
    report = period(shop, "conversations")
    assert (report["opened"], report["replied"], report["median_first_response_seconds"]) == (1, 1, 1800)
    assert (report["converted"], report["revenue"]) == (1, "36.95")
    assert period(shop, "summary")["recovered_revenue"] == "36.95"  # recovered revenue for that cart
    reasons = {row["reason"]: row for row in period(shop, "reasons")["reasons"]}
    assert (reasons["unexpected_fees"]["carts"], reasons["unexpected_fees"]["recovered"],
            reasons["unexpected_fees"]["recovered_share"]) == (1, 1, 1.0)


def test_an_order_later_than_7_days_after_the_last_shopper_message_is_not_the_conversations(app, shop):
    conversation_id = shopper_with_cart(app, shop)
    send_reply(app, shop, conversation_id)
    clock.advance(timedelta(days=7, minutes=1))
    body = order(shop)
    assert body["attribution_rule"] != "conversation"
    assert (period(shop, "conversations")["converted"], period(shop, "conversations")["revenue"]) == (0, "0.00")


def test_an_order_before_any_reply_is_still_the_conversations(app, shop):
    shopper_with_cart(app, shop)
    clock.advance(timedelta(hours=2))
    body = order(shop)
    assert (body["attribution_rule"], body["attributed_message_id"], body["recovered"]) == ("conversation", None, True)
    report = period(shop, "conversations")
    assert (report["replied"], report["median_first_response_seconds"], report["converted"]) == (0, None, 1)


def test_a_cancelled_order_takes_the_conversations_revenue_back(app, shop):
    shopper_with_cart(app, shop)
    order(shop)
    clock.advance(timedelta(hours=1))
    shop.post_order({"order_id": "conv-1", "total": "36.95", "currency": "USD", "status": "cancelled",
                     "modified_at": clock.now().isoformat()})
    assert (period(shop, "conversations")["converted"], period(shop, "conversations")["revenue"]) == (0, "0.00")


def test_the_reasons_report_uses_the_agents_reason_over_the_suggestion_and_counts_the_unclassified(app, shop):
    conversation_id = shopper_with_cart(app, shop)
    call(shop, "PUT", f"/conversations/{conversation_id}/reason", {"reason": "price"})
    open_conversation(app, shop, ["hello"], phone="+12025550177")
    report = period(shop, "reasons")
    rows = {row["reason"]: row for row in report["reasons"]}
    assert [row["reason"] for row in report["reasons"]] == list(conversations.service.REASONS)
    assert (rows["price"]["carts"], rows["price"]["confirmed"], rows["price"]["recovered_share"]) == (1, 1, 0.0)
    assert rows["unexpected_fees"]["carts"] == 0 and report["unclassified"] == 1


@pytest.mark.parametrize("path", ["conversations", "reasons"])
@pytest.mark.parametrize("query,field", [({"from": "yesterday"}, "from"), ({"to": "0001-01-01"}, "to"),
                                         ({"from": f"2026{NUL}"}, "from"), ({"to": ""}, "to")])
def test_bad_report_periods_are_a_400_naming_the_parameter(app, shop, path, query, field):
    response = call(shop, "GET", f"/reports/{path}", query_string=query)
    assert response.status_code == 400 and field in response.get_json()["error"]["fields"]
