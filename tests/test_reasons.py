"""The abandonment-reason classifier: realistic shopper replies per reason, texts that name no reason, and the rules
file that can grow per language."""
import json
from importlib import resources

import pytest

from retainful.conversations import reasons

SHOPPER_TEXTS = {
    "payment": ["My card keeps getting declined at checkout", "Do you take PayPal? I don't have a credit card",
                "the payment didn’t go through, tried twice", "Can I pay with Klarna?"],
    "unexpected_fees": ["Shipping was $15, that's more than the item lol", "Why is there a $9 handling fee?",
                        "the total jumped at checkout with taxes and customs", "HIDDEN FEES!!! no thanks"],
    "technical": ["The checkout page kept spinning and then showed an error", "your site wouldn't load on my phone",
                  "I clicked the button and nothing happened, it's stuck", "the app crashed when I tried to pay"],
    "shipping_time": ["How long does it take to arrive in Canada?",
                      "Will it get here by Friday? It's for my daughter's birthday", "do you have express shipping"],
    "trust": ["Is this a legit site? Never heard of you before", "What's your return policy if it doesn't fit?",
              "not sure I trust giving my card details to a new store", "looks like a scam tbh"],
    "product_info": ["What size should I get, I'm usually a medium", "Is the jacket waterproof?",
                     "Is this compatible with the iPhone 15?", "what is it made of? I'm allergic to wool"],
    "price": ["Found it cheaper elsewhere tbh", "It's a bit too expensive for me right now",
              "Do you have a discount code? waiting for payday", "can't afford it this month"],
}
NO_REASON = ["Thanks!", "ok", "who is this?", "Yes please", "I'll do it later", "", "👍", "Hi Sarah, hello"]


@pytest.mark.parametrize("reason,text", [(r, t) for r, texts in SHOPPER_TEXTS.items() for t in texts])
def test_a_shopper_reply_suggests_its_reason(reason, text):
    assert reasons.suggest([text]) == reason


@pytest.mark.parametrize("text", NO_REASON)
def test_a_reply_that_names_no_reason_suggests_none(text):
    assert reasons.suggest([text]) is None


def test_the_whole_conversation_counts_not_only_one_message():
    thread = ["hi", "yes I saw it", "the shipping cost was crazy", "and then tax on top"]
    assert reasons.suggest(thread) == "unexpected_fees"
    assert reasons.suggest(thread[:2]) is None


def test_a_stem_matches_the_words_it_begins_and_not_others():
    assert reasons.suggest(["transaction declining again"]) == "payment"
    assert reasons.suggest(["I decline your offer of help"]) is None  # "declined" is a whole word


def test_other_is_never_suggested_and_every_reason_is_known():
    assert reasons.REASONS[-1] == "other"
    assert all(reasons.suggest(texts) != "other" for texts in SHOPPER_TEXTS.values())


def test_an_unknown_or_malformed_language_falls_back_to_english():
    assert reasons.suggest(["my card was declined"], language="xx") == "payment"
    assert reasons.suggest(["my card was declined"], language="../en") == "payment"


def test_non_text_and_hostile_input_is_ignored_not_an_error():
    assert reasons.suggest([None, 42, "\x00\ud800", "a" * 100_000]) is None
    assert reasons.suggest(["card declined\x00"]) == "payment"


def test_every_rules_file_names_only_known_reasons_with_whole_number_weights():
    folder = resources.files("retainful.conversations").joinpath("reasons")
    files = [f for f in folder.iterdir() if f.name.endswith(".json")]
    assert [f.name for f in files if f.name == "en.json"]
    for file in files:
        data = json.loads(file.read_text(encoding="utf-8"))
        assert set(data["reasons"]) <= set(reasons.REASONS[:-1]), file.name
        assert all(isinstance(w, int) and w > 0 for phrases in data["reasons"].values() for w in phrases.values())


# --- the suggestion on a conversation ------------------------------------------------------------------------------

def _conversation(app, make_store, texts, locale=None):
    from retainful import conversations
    from retainful.extensions import db
    from retainful.models import Customer

    shop = make_store()
    with app.app_context():
        customer = Customer(store_id=shop.store_id, phone="+12025550143", locale=locale)
        db.session.add(customer)
        db.session.commit()
        for text in texts:
            message = conversations.receive(customer, "sms", text)
        return message.conversation_id


def _reasons_of(app, conversation_id):
    from retainful.extensions import db
    from retainful.models import Conversation

    with app.app_context():
        conversation = db.session.get(Conversation, conversation_id)
        return conversation.suggested_reason, conversation.reason


def test_each_shopper_message_updates_the_suggestion_and_keeps_the_agents_reason(app, make_store):
    from retainful import conversations
    from retainful.extensions import db
    from retainful.models import Conversation, Customer

    conversation_id = _conversation(app, make_store, ["hi, who is this?"], locale="en_US")
    assert _reasons_of(app, conversation_id) == (None, None)
    with app.app_context():
        conversation = db.session.get(Conversation, conversation_id)
        conversations.set_reason(conversation, "price")
        conversations.receive(db.session.get(Customer, conversation.customer_id), "sms",
                              "my card was declined twice at checkout")
    assert _reasons_of(app, conversation_id) == ("payment", "price")


def test_a_locale_without_rules_is_classified_with_the_english_ones(app, make_store):
    assert _reasons_of(app, _conversation(app, make_store, ["how long does shipping take?"], locale="de_DE")) == (
        "shipping_time", None)


def test_a_long_thread_is_classified_quickly():
    import time

    thread = [("I love this mug but the delivery fee is something else " * 90)[:5000]] * 50
    started = time.perf_counter()
    assert reasons.suggest(thread) == "unexpected_fees"
    assert time.perf_counter() - started < 1.0
