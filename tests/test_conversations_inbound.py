"""Inbound SMS in conversations, end to end with Vonage's real payload shapes on both databases: a reply opens (or
continues) a conversation in the store it was sent to, long texts are joined, keywords come first and are confirmed
once, the FCC's embedded revocation words opt out, the shopper's marketing waits while a conversation is open, and an
agent's reply goes out through the outbox exactly once, as a transactional message."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from retainful import clock, conversations
from retainful.extensions import db
from retainful.messaging.dispatch import Dispatcher, Providers
from retainful.messaging.providers.base import SendResult
from retainful.messaging.webhooks import vonage
from retainful.models import Conversation, ConversationMessage, Customer, InboundSmsPart, Message, Store
from tests.conftest import T0, cart_body
from tests.test_recovery_sequence import at, messages
from tests.test_vonage_inbound import CUSTOMER, STORE_NUMBER, TOKEN, URL, inbound, pending_sms_abandoned, set_sender
from tests.test_vonage_inbound import signed, signing  # noqa: F401 (the fixture)


class Recording:
    """A provider that keeps what it was handed."""

    name = "sandbox"

    def __init__(self):
        self.emails, self.texts = [], []

    def send_email(self, email):
        self.emails.append(email)
        return SendResult(provider_message_id=f"e{len(self.emails)}")

    def send_sms(self, sms):
        self.texts.append(sms)
        return SendResult(provider_message_id=f"s{len(self.texts)}")


@pytest.fixture
def outbox_to(app):
    recording = Recording()

    def dispatch():
        with app.app_context():
            Dispatcher(app, Providers(recording, recording)).run_due()
        return recording

    return dispatch


def text_in(client, text, message_id="0A0000001234567B", **fields):
    response = client.post(URL, data=signed(inbound(text, messageId=message_id, **fields)))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def thread(app):
    with app.app_context():
        rows = db.session.scalars(sa.select(Conversation).order_by(Conversation.id)).all()
        return [{**conversations.as_json(c, messages=True)} for c in rows]


def kinds(app, *kinds_):
    with app.app_context():
        rows = db.session.scalars(sa.select(Message).where(Message.kind.in_(kinds_)).order_by(Message.id)).all()
        db.session.expunge_all()
        return rows


def test_a_reply_opens_a_conversation_in_the_store_it_was_sent_to(app, shop, make_store, client, signing):
    pending_sms_abandoned(app, shop)
    other = make_store(name="Other", domain="other.example", country="US", timezone="America/New_York")
    set_sender(app, other.store_id, "+14155550199")
    other.put_cart("o", cart_body(customer=CUSTOMER, recovery_url="https://other.example/cart"))
    assert text_in(client, "Is the red mug dishwasher safe?") == {"opted_out": 0, "recorded": 1}
    assert text_in(client, "Also: do you ship to Canada?", message_id="0A0000001234567C")["recorded"] == 1
    [conversation] = thread(app)
    with app.app_context():
        customer = db.session.get(Customer, conversation["customer_id"])
        assert customer.store_id == shop.store_id  # not the other store's shopper with the same number
    assert conversation["status"] == "open" and conversation["channel"] == "sms"
    assert conversation["unread_count"] == 2 and conversation["cart_id"] is not None
    assert [(m["direction"], m["channel"], m["text"]) for m in conversation["messages"]] == [
        ("inbound", "sms", "Is the red mug dishwasher safe?"), ("inbound", "sms", "Also: do you ship to Canada?")]


def test_a_retried_text_is_recorded_once_and_strangers_are_not_recorded(app, shop, client, signing):
    pending_sms_abandoned(app, shop)
    assert text_in(client, "Hello?")["recorded"] == 1
    assert text_in(client, "Hello?")["recorded"] == 0  # Vonage resent it: same messageId
    assert text_in(client, "Hi", msisdn="12125550999", message_id="X1") == {"opted_out": 0, "recorded": 0}
    assert text_in(client, "Hi", to="14155550111", message_id="X2")["recorded"] == 0  # not a store's number
    [conversation] = thread(app)
    assert [m["text"] for m in conversation["messages"]] == ["Hello?"]


def test_a_long_text_is_joined_from_its_parts_in_order_and_retried_parts_count_once(app, shop, client, signing):
    pending_sms_abandoned(app, shop)
    parts = ["I tried to pay with my card three times and ", "it keeps failing at the last step, ",
             "can you help?"]

    def part(number, message_id=None):
        return text_in(client, parts[number - 1], message_id=message_id or f"P{number}", type="text",
                       concat="true", **{"concat-ref": "108", "concat-part": str(number), "concat-total": "3"})

    assert part(3)["recorded"] == 0 and part(1)["recorded"] == 0
    assert part(1)["recorded"] == 0  # a retry of a part
    assert part(2)["recorded"] == 1
    assert part(2)["recorded"] == 0  # retried after the join: still recognised
    [conversation] = thread(app)
    assert [m["text"] for m in conversation["messages"]] == ["".join(parts)]


def test_an_incomplete_set_is_recorded_with_what_came_after_a_day(app, shop, client, signing):
    pending_sms_abandoned(app, shop)
    fields = {"concat": "true", "concat-ref": "7", "concat-total": "3"}
    text_in(client, "first half, ", message_id="Q1", **{**fields, "concat-part": "1"})
    text_in(client, "second half", message_id="Q2", **{**fields, "concat-part": "2"})
    assert thread(app) == []
    clock.advance(timedelta(hours=25))
    assert text_in(client, "anyone there?", message_id="Q9")["recorded"] == 2
    [conversation] = thread(app)
    assert sorted(m["text"] for m in conversation["messages"]) == ["anyone there?", "first half, second half"]
    text_in(client, "and another ", message_id="R1", **{**fields, "concat-ref": "8", "concat-part": "1"})
    clock.advance(timedelta(hours=25))
    with app.app_context():  # no text comes in: the hourly job records it
        assert vonage.record_expired_parts() == {"opted_out": 0, "recorded": 1}
    assert thread(app)[0]["messages"][-1]["text"] == "and another "
    clock.advance(timedelta(hours=25))
    text_in(client, "hello", message_id="Q10")
    with app.app_context():
        assert db.session.query(InboundSmsPart).count() == 0  # joined parts are not kept forever


@pytest.mark.parametrize("fields", [{"concat-ref": "1", "concat-part": "4", "concat-total": "3"},
                                    {"concat-ref": "1", "concat-part": "x", "concat-total": "3"},
                                    {"concat-ref": "1", "concat-part": "1", "concat-total": "999"},
                                    {"concat-ref": "", "concat-part": "1", "concat-total": "2"},
                                    {"concat-ref": "1", "concat-part": "١", "concat-total": "2"}])
def test_malformed_concat_fields_are_400(app, shop, client, signing, fields):
    pending_sms_abandoned(app, shop)
    response = client.post(URL, data=signed(inbound("part", **fields)))
    assert response.status_code == 400 and "concat" in response.get_json()["error"]["message"]


def test_stop_opts_out_cancels_pending_texts_and_is_confirmed_once_even_in_quiet_hours(app, shop, client, signing,
                                                                                      outbox_to):
    pending_sms_abandoned(app, shop)  # 04:30 in New York
    assert text_in(client, " Stop. ") == {"opted_out": 1, "recorded": 1}
    assert text_in(client, " Stop. ")["recorded"] == 0  # Vonage's retry: no second confirmation
    assert [m.status for m in messages(app, channel="sms")] == ["cancelled"]
    sent = outbox_to()
    [confirmation] = sent.texts
    assert confirmation.to == "+12125550123" and "Acme Mugs" in confirmation.text and "START" in confirmation.text
    assert [m.status for m in kinds(app, "keyword_reply")] == ["sent"]
    [conversation] = thread(app)
    assert conversation["status"] == "closed"  # a bare keyword needs no agent
    assert [(m["direction"], m["keyword"]) for m in conversation["messages"]] == [
        ("inbound", "opt_out"), ("outbound", "opt_out")]
    assert outbox_to().texts == [confirmation]  # exactly once


@pytest.mark.parametrize("word", ["STOPALL", "unsubscribe", "Cancel", "END", "quit!", "REVOKE", "opt-out", "OptOut"])
def test_every_opt_out_keyword(app, shop, client, signing, word):
    pending_sms_abandoned(app, shop)
    assert text_in(client, word)["opted_out"] == 1
    with app.app_context():
        assert db.session.query(Customer).one().sms_opted_out_at is not None


def test_start_opts_back_in_and_help_answers_with_the_store_and_how_to_stop(app, shop, client, signing, outbox_to):
    pending_sms_abandoned(app, shop)
    text_in(client, "STOP", message_id="M1")
    text_in(client, "unstop", message_id="M2")
    with app.app_context():
        customer = db.session.query(Customer).one()
        assert customer.sms_opted_out_at is None and customer.sms_consent is True
        assert customer.sms_consent_source == "sms_start"
    text_in(client, "Info", message_id="M3")
    texts = [t.text for t in outbox_to().texts]
    assert len(texts) == 3
    assert "subscribed to texts again" in texts[1]
    assert "Acme Mugs" in texts[2] and "Msg & data rates may apply" in texts[2] and "STOP" in texts[2]
    assert "acme.example" in texts[2]  # how to reach the store


def test_an_embedded_revocation_word_opts_out_and_flags_the_conversation(app, shop, client, signing, outbox_to):
    pending_sms_abandoned(app, shop)
    assert text_in(client, "Please stop texting me, I bought it elsewhere")["opted_out"] == 1
    [conversation] = thread(app)
    assert conversation["status"] == "open" and conversation["opt_out_flagged"] is True
    assert conversation["messages"][0]["opt_out_flagged"] is True
    assert [m.status for m in messages(app, channel="sms")] == ["cancelled"]
    assert len(outbox_to().texts) == 1  # the one confirmation
    assert text_in(client, "the weekend is fine", message_id="W2")["opted_out"] == 0  # "end" as a word only


def wrote_after_step1(app, shop, client, text, pause_hours=48):
    """The shopper gets step 1's email (its text waits for 08:00 in New York) and texts back."""
    with app.app_context():
        db.session.get(Store, shop.store_id).conversation_pause_hours = pause_hours
        db.session.commit()
    set_sender(app, shop.store_id, STORE_NUMBER)
    shop.put_cart("c", cart_body(customer=CUSTOMER))
    at(app, timedelta(minutes=30))
    assert text_in(client, text)["recorded"] == 1


def test_an_open_conversation_holds_marketing_until_it_is_closed(app, shop, client, signing, outbox_to):
    wrote_after_step1(app, shop, client, "Do you have it in blue?")
    at(app, timedelta(hours=6, minutes=30))  # step 2 is due: it waits
    held = T0 + timedelta(minutes=30, hours=48)
    assert sorted((m.channel, m.status) for m in messages(app) if m.due_at == held) == [
        ("email", "scheduled"), ("sms", "scheduled")]  # step 2, and step 1's text (held at 08:00 New York)
    assert {m.status for m in messages(app)} == {"sent", "scheduled"}  # nothing skipped
    with app.app_context():
        conversation = db.session.query(Conversation).one()
        conversations.close(conversation)
    at(app, timedelta(hours=7))  # 09:00 in New York
    assert sorted(m.status for m in messages(app) if m.due_at <= T0 + timedelta(hours=7)) == ["sent"] * 3


@pytest.mark.parametrize("pause_hours", [2, 0])
def test_the_pause_ends_after_conversation_pause_hours(app, shop, client, signing, pause_hours):
    wrote_after_step1(app, shop, client, "Hmm, let me think", pause_hours)
    at(app, timedelta(hours=2))
    at(app, timedelta(hours=6))  # step 2 is due, the pause is over: it goes although the conversation is open
    assert [m.status for m in messages(app, channel="email")][:2] == ["sent", "sent"]
    with app.app_context():
        assert db.session.query(Conversation).one().status == "open"


def test_an_agents_reply_goes_out_once_in_quiet_hours_while_the_shopper_is_there(app, shop, client, signing,
                                                                                 outbox_to):
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        store.persona_name, store.sms_cap_hours = "Sarah from Acme", 24
        db.session.commit()
    pending_sms_abandoned(app, shop)  # 04:30 New York
    text_in(client, "Can I still get the discount?")
    with app.app_context():
        conversation = db.session.query(Conversation).one()
        written = conversations.reply(conversation, "Yes! Use code MUG10 at checkout.")
        assert written.author == "Sarah from Acme" and written.outbox_message_id is not None
        again = conversations.reply(conversation, "And it's valid all week.")
    clock.advance(timedelta(minutes=10))
    sent = outbox_to()
    assert [t.text for t in sent.texts] == ["Yes! Use code MUG10 at checkout. Reply STOP to opt out",
                                            "And it's valid all week. Reply STOP to opt out"]
    assert outbox_to().texts == sent.texts  # dispatched again: nothing twice
    assert [m.status for m in kinds(app, "conversation_reply")] == ["sent", "sent"]  # not held by the SMS cap
    [conversation] = thread(app)
    assert conversation["unread_count"] == 0 and conversation["first_response_at"] is not None
    assert [m["author"] for m in conversation["messages"]][1:] == ["Sarah from Acme", "Sarah from Acme"]
    with app.app_context():
        conversations.close(db.session.get(Conversation, again.conversation_id))
    at(app, timedelta(hours=4))  # 08:00 in New York: step 1's text goes, the replies counted toward no cap
    assert [m.status for m in messages(app, channel="sms")] == ["sent"]


def test_a_late_reply_waits_for_the_end_of_quiet_hours_and_keeps_the_opt_out(app, shop, client, signing,
                                                                          outbox_to):
    pending_sms_abandoned(app, shop)
    text_in(client, "Is the sampler vegan?")
    clock.advance(timedelta(minutes=45))  # 05:15 in New York, the shopper wrote 45 minutes ago
    with app.app_context():
        conversations.reply(db.session.query(Conversation).one(), "It is!")
    assert outbox_to().texts == []
    [reply] = kinds(app, "conversation_reply")
    assert reply.status == "scheduled" and reply.due_at == T0 + timedelta(hours=4)  # 08:00 in New York
    text_in(client, "ok stop", message_id="S2")  # revokes: the waiting reply must not go
    clock.freeze(T0 + timedelta(hours=4, minutes=1))
    texts = outbox_to().texts
    assert [t.text for t in texts if "It is!" in t.text] == []
    assert [m.status for m in kinds(app, "conversation_reply")] == ["cancelled"]
    assert thread(app)[0]["messages"][1]["delivery"] == {"status": "cancelled", "skip_reason": None}


def test_a_reply_needs_text_and_a_reason_must_be_known(app, shop, client, signing):
    pending_sms_abandoned(app, shop)
    text_in(client, "hi")
    with app.app_context():
        conversation = db.session.query(Conversation).one()
        for text, field in (("  ", "text"), ("x" * 5001, "text")):
            with pytest.raises(conversations.ConversationError) as refused:
                conversations.reply(conversation, text)
            assert refused.value.field == field
        with pytest.raises(conversations.ConversationError):
            conversations.set_reason(conversation, "bored")
        conversations.set_reason(conversation, "payment")
        assert conversations.as_json(conversation)["reason"] == "payment"
        assert db.session.query(ConversationMessage).count() == 1


def test_reopen_close_and_another_stores_id(app, shop, make_store, client, signing):
    other = make_store(name="Other", domain="other.example")
    pending_sms_abandoned(app, shop)
    text_in(client, "hi")
    with app.app_context():
        conversation = db.session.query(Conversation).one()
        assert conversations.get(other.store_id, conversation.id) is None
        assert conversations.get(shop.store_id, conversation.id) is conversation
        conversations.close(conversation)
        assert [c.id for c in conversations.list_conversations(shop.store_id, "closed")] == [conversation.id]
        conversations.reopen(conversation)
        assert conversations.list_conversations(shop.store_id, "open") == [conversation]
        with pytest.raises(conversations.ConversationError):
            conversations.list_conversations(shop.store_id, "archived")


def test_hostile_texts_are_kept_storable(app, shop, client):
    app.config["VONAGE_INBOUND_TOKEN"] = TOKEN
    pending_sms_abandoned(app, shop)
    for number, text in enumerate(("hi\u0000there", "lone \ud800 surrogate", "x" * 20_000)):
        response = client.post(f"{URL}/{TOKEN}", json={"msisdn": "12125550123", "to": STORE_NUMBER, "text": text,
                                                       "messageId": f"H{number}"})
        assert response.status_code == 200 and response.get_json()["recorded"] == 1
    [conversation] = thread(app)
    assert [m["text"][:20] for m in conversation["messages"]] == ["hi\ufffdthere", "lone \ufffd surrogate", "x" * 20]
    assert len(conversation["messages"][2]["text"]) == 5000
    many = {"msisdn": "12125550123", "to": STORE_NUMBER, "text": "p", "concat-ref": "9" * 65,
            "concat-part": "1", "concat-total": "2"}
    assert client.post(f"{URL}/{TOKEN}", json=many).status_code == 400


def test_persona_pause_and_webhook_settings_go_through_the_one_validator(app, shop, runner):
    store_id = str(shop.store_id)
    for arguments, field in ((["--conversation-pause-hours", "721"], "conversation_pause_hours"),
                             (["--conversation-webhook-url", "http://helpdesk.example/hook"],
                              "conversation_webhook_url"),
                             (["--conversation-webhook-url", "https://user:pw@helpdesk.example/"],
                              "conversation_webhook_url"),
                             (["--persona-name", "S" * 101], "persona_name")):
        result = runner.invoke(args=["configure-store", store_id, *arguments])
        assert result.exit_code != 0 and f"{field}:" in result.output
    result = runner.invoke(args=["configure-store", store_id, "--persona-name", "Sarah from Acme",
                                 "--persona-signature", "Acme Mugs, Leeds", "--conversation-pause-hours", "0",
                                 "--conversation-webhook-url", "https://helpdesk.example/hooks/retainful"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        assert (store.persona, store.persona_signature, store.conversation_pause_hours,
                store.conversation_webhook_url) == ("Sarah from Acme", "Acme Mugs, Leeds", 0,
                                                    "https://helpdesk.example/hooks/retainful")

