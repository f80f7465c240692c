"""Replenishment reminders end to end on SQLite and PostgreSQL: products through ``PUT /api/v1/products/<id>``
(hostile input included), the reminder ``replenish_after_days`` after an order (an SMS with consent, else an email)
with a reorder link on the store's domain, YES and REMINDME through the real Vonage inbound webhook, and a new order
of the product restarting the count."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from retainful import clock
from retainful.extensions import db
from retainful.models import Cart, ConversationMessage, Message, Product, Store
from retainful.rendering.links import reorder_url
from tests.conftest import T0, cart_body
from tests.test_automations_lifecycle import enable, rows, run_jobs, sent
from tests.test_automations_lifecycle import store as lifecycle_store  # noqa: F401 (fixture)
from tests.test_vonage_inbound import STORE_NUMBER, set_sender, signed, inbound, signing  # noqa: F401 (fixture)
from tests.test_woocommerce import deliver
from tests.woo_stub import woo_order_payload

KIND = "replenishment"
PHONE = "+12125550123"  # New York: quiet hours until 08:00 local
SHOPPER = {"email": "sam@example.com", "first_name": "Sam", "phone": PHONE, "sms_consent": True,
           "email_consent": True}
DAY_TIME = timedelta(hours=7)  # T0 is 04:00 in New York (05:00 after the DST change): +7 h is mid-morning


@pytest.fixture
def store(lifecycle_store, app):
    """The lifecycle tests' New York store, with replenishment on."""
    enable(app, lifecycle_store.store_id, KIND)
    return lifecycle_store


def put_product(shop, product_id, name="Coffee beans 1 kg", days=30, **kw):
    body = kw.pop("json", {"name": name, "replenish_after_days": days})
    return shop.client.put(f"/api/v1/products/{product_id}", json=body, headers=kw.pop("headers", shop.headers),
                           **kw)


def order(shop, order_id, items=({"product_id": "101", "quantity": 2},), customer=None, **body):
    body = {"order_id": order_id, "customer": customer or SHOPPER, "total": "40.00", "currency": "USD",
            "status": "processing", "items": list(items), **body}
    answer = shop.post_order(body)
    assert answer.status_code in (200, 201), answer.get_json()
    return answer


def at(app, delta):
    clock.freeze(T0 + delta)
    run_jobs(app)


# --- the products API ---------------------------------------------------------------------------------------------

def test_put_creates_then_replaces_and_get_reads_it_back(store):
    created = put_product(store, "101", days=30)
    assert created.status_code == 201
    assert created.get_json() | {"updated_at": None} == {"product_id": "101", "name": "Coffee beans 1 kg",
                                                        "replenish_after_days": 30, "updated_at": None}
    replaced = put_product(store, "101", name="Coffee beans 500 g", days=None)
    assert replaced.status_code == 200 and replaced.get_json()["replenish_after_days"] is None
    got = store.client.get("/api/v1/products/101", headers=store.headers)
    assert got.status_code == 200 and got.get_json()["name"] == "Coffee beans 500 g"
    assert store.client.get("/api/v1/products/999", headers=store.headers).status_code == 404
    longest = "p" * 64
    assert put_product(store, longest).status_code == 201
    assert store.client.get(f"/api/v1/products/{longest}", headers=store.headers).status_code == 200
    assert store.client.get(f"/api/v1/products/{longest}x", headers=store.headers).status_code == 404  # not cut short


def test_another_stores_product_is_not_found_and_not_changed(store, make_store, app):
    put_product(store, "101", days=30)
    other = make_store(name="Other", domain="other.example")
    assert other.client.get("/api/v1/products/101", headers=other.headers).status_code == 404
    assert put_product(other, "101", name="Theirs", days=7).status_code == 201  # their own product of that id
    with app.app_context():
        mine = db.session.scalar(sa.select(Product).where(Product.store_id == store.store_id))
        assert (mine.name, mine.replenish_after_days) == ("Coffee beans 1 kg", 30)


@pytest.mark.parametrize("body, field", [
    ({"name": "Beans", "replenish_after_days": "30"}, "replenish_after_days"),
    ({"name": "Beans", "replenish_after_days": 30.5}, "replenish_after_days"),
    ({"name": "Beans", "replenish_after_days": True}, "replenish_after_days"),
    ({"name": "Beans", "replenish_after_days": 0}, "replenish_after_days"),
    ({"name": "Beans", "replenish_after_days": 366}, "replenish_after_days"),
    ({"name": "Beans", "replenish_after_days": 10 ** 30}, "replenish_after_days"),
    ({"name": "Beans"}, "replenish_after_days"),
    ({"replenish_after_days": 30}, "name"),
    ({"name": 42, "replenish_after_days": 30}, "name"),
    ({"name": "", "replenish_after_days": 30}, "name"),
    ({"name": "x" * 301, "replenish_after_days": 30}, "name"),
    ({"name": "Be\x00ans", "replenish_after_days": 30}, "name"),
    ({"name": "Be\ud800ans", "replenish_after_days": 30}, "name"),
])
def test_bad_fields_are_400_naming_the_field(store, body, field, app):
    answer = put_product(store, "101", json=body)
    assert answer.status_code == 400, answer.get_json()
    assert field in answer.get_json()["error"]["fields"]
    with app.app_context():
        assert db.session.query(Product).count() == 0


@pytest.mark.parametrize("product_id", ["a%00b", "a%01b", "x" * 65, "tab%09bed"])
def test_bad_product_ids_are_400(store, product_id):
    answer = put_product(store, product_id)
    assert answer.status_code == 400, answer.get_json()
    assert "product_id" in answer.get_json()["error"]["fields"]


def test_auth_body_type_and_size_are_checked(store):
    assert put_product(store, "101", headers={}).status_code == 401
    assert put_product(store, "101", headers={"Authorization": "Bearer forged-key"}).status_code == 401
    assert store.client.get("/api/v1/products/101", headers={"Authorization": "Bearer x"}).status_code == 401
    assert store.client.put("/api/v1/products/101", data="name=x", headers=store.headers).status_code == 415
    huge = {"name": "Beans", "replenish_after_days": 30, "padding": "x" * 300_000}
    assert put_product(store, "101", json=huge).status_code == 413
    assert store.client.put("/api/v1/products/101", data="[1]", content_type="application/json",
                            headers=store.headers).status_code == 400


# --- the reminder ---------------------------------------------------------------------------------------------------

def test_off_by_default(make_store, app):
    shop = make_store(country="US", timezone="America/New_York")
    put_product(shop, "101", days=30)
    order(shop, "1")
    at(app, timedelta(days=31) + DAY_TIME)
    assert rows(app, KIND) == []


def test_an_sms_with_consent_that_many_days_later_with_the_reorder_link_and_keywords(store, app):
    put_product(store, "101", days=30)
    put_product(store, "102", name="Mug", days=None)  # not replenished
    order(store, "1", items=[{"product_id": "101", "quantity": 2}, {"product_id": "102", "quantity": 1}])
    at(app, timedelta(days=29) + DAY_TIME)
    assert sent(app, KIND) == []
    at(app, timedelta(days=30) + DAY_TIME)
    (text,) = rows(app, KIND)
    assert (text.status, text.channel, text.recipient) == ("sent", "sms", PHONE)
    assert "https://acme.example/?add-to-cart=101&quantity=2" in text.body_text
    assert "Coffee beans 1 kg" in text.body_text
    assert "reply yes to reorder, remindme to hear again in a week" in text.body_text.lower()


def test_an_email_when_the_shopper_did_not_consent_to_texts(store, app):
    put_product(store, "101", days=14)
    order(store, "1", customer={**SHOPPER, "sms_consent": None})
    at(app, timedelta(days=14) + DAY_TIME)
    (email,) = rows(app, KIND)
    assert (email.status, email.channel, email.recipient) == ("sent", "email", "sam@example.com")
    assert "Coffee beans 1 kg" in email.subject
    assert "https://acme.example/?add-to-cart=101&amp;quantity=2" in email.body_html
    assert "REMINDME" not in email.body_html


def test_nothing_for_a_shopper_who_refused_both(store, app):
    put_product(store, "101", days=14)
    order(store, "1", customer={**SHOPPER, "sms_consent": False, "email_consent": False})
    at(app, timedelta(days=15) + DAY_TIME)
    assert sent(app, KIND) == []


def test_a_new_order_of_the_product_restarts_the_count(store, app):
    put_product(store, "101", days=30)
    order(store, "1", items=[{"product_id": "101", "quantity": 1}])
    at(app, timedelta(days=10))
    order(store, "2", items=[{"product_id": "101", "quantity": 3}], created_at=(T0 + timedelta(days=10)).isoformat())
    assert [m.status for m in rows(app, KIND)] == ["cancelled", "scheduled"]
    at(app, timedelta(days=30) + DAY_TIME)
    assert sent(app, KIND) == []
    at(app, timedelta(days=40) + DAY_TIME)
    (text,) = sent(app, KIND)
    assert "quantity=3" in text.body_text


def test_an_order_of_another_product_leaves_the_count_alone(store, app):
    put_product(store, "101", days=30)
    put_product(store, "201", name="Filters", days=60)
    order(store, "1", items=[{"product_id": "101", "quantity": 1}])
    order(store, "2", items=[{"product_id": "201", "quantity": 1}])
    assert [m.status for m in rows(app, KIND)] == ["scheduled", "scheduled"]


def test_a_cancelled_order_or_a_product_no_longer_replenished_sends_nothing(store, app):
    put_product(store, "101", days=30)
    put_product(store, "201", name="Filters", days=30)
    order(store, "1", items=[{"product_id": "101", "quantity": 1}])
    order(store, "2", items=[{"product_id": "201", "quantity": 1}])
    order(store, "1", items=[], status="cancelled")
    put_product(store, "201", name="Filters", days=None)
    at(app, timedelta(days=30) + DAY_TIME)
    assert sorted(m.skip_reason for m in rows(app, KIND)) == ["not_replenished", "order_cancelled"]


def test_woocommerce_line_items_and_the_cart_lines_name_the_products(store, app):
    put_product(store, "101", days=20)
    put_product(store, "102", name="Tea sampler", days=22)  # due the same day, the caps would skip the second
    answer = deliver(store, woo_order_payload(status="processing"))
    assert answer.status_code == 200, answer.get_json()
    at(app, timedelta(days=20) + DAY_TIME)
    assert len(sent(app, KIND)) == 1
    at(app, timedelta(days=22) + DAY_TIME)
    emails = sent(app, KIND)  # WooCommerce records no SMS consent
    assert sorted(re.search(r"add-to-cart=(\w+)&amp;quantity=(\d+)", m.body_html).groups() for m in emails) == [
        ("101", "2"), ("7", "1")]  # a variation is added by its own id


def test_an_order_without_items_uses_its_carts_lines(store, app):
    put_product(store, "102", name="Tea sampler", days=20)
    store.put_cart("c1", cart_body(customer=SHOPPER))
    body = {"order_id": "9", "cart_token": "c1", "total": "36.95", "currency": "USD", "status": "processing"}
    assert store.post_order(body).get_json()["items"] == [
        {"product_id": "101", "variant_id": None, "quantity": 2, "name": "Red mug"},
        {"product_id": "102", "variant_id": "7", "quantity": 1, "name": "Tea sampler"}]
    at(app, timedelta(days=20) + DAY_TIME)
    (text,) = sent(app, KIND)
    assert "add-to-cart=7&quantity=1" in text.body_text


def test_a_plugin_cart_reorders_through_the_plugins_own_recovery_link(app, store):
    with app.app_context():
        store_row = db.session.get(Store, store.store_id)
        plugin_cart = Cart(plugin_snapshot={"cart_token": "t"},
                           recovery_url="https://acme.example/wc-api/retainful?token=abc&hash=def")
        assert reorder_url(store_row, "101", 2, plugin_cart) == plugin_cart.recovery_url
        assert reorder_url(store_row, "a b/c", 2, Cart()) == "https://acme.example/?add-to-cart=a%20b%2Fc&quantity=2"


# --- YES and REMINDME through Vonage's inbound webhook --------------------------------------------------------------

def reminded(app, store):
    """A reminder text sent 30 days after an order of 2 bags of coffee."""
    set_sender(app, store.store_id, STORE_NUMBER)
    put_product(store, "101", days=30)
    order(store, "1")
    at(app, timedelta(days=30) + DAY_TIME)
    assert [m.channel for m in sent(app, KIND)] == ["sms"]


def text_in(client, text, message_id):
    answer = client.post("/webhooks/vonage/inbound", data=signed(inbound(text, messageId=message_id)))
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def keyword_replies(app):
    with app.app_context():
        run_jobs(app)
    return [m.body_text for m in sent(app, "keyword_reply")]


def test_yes_answers_at_once_with_the_reorder_link(app, store, client, signing):
    reminded(app, store)
    text_in(client, "Yes!", "M1")
    (answer,) = keyword_replies(app)
    assert "https://acme.example/?add-to-cart=101&quantity=2" in answer
    with app.app_context():
        assert db.session.scalar(sa.select(ConversationMessage.keyword).where(
            ConversationMessage.direction == "inbound")) == "reorder"


def test_remindme_plans_the_reminder_again_a_week_later_each_time(app, store, client, signing):
    reminded(app, store)
    text_in(client, "REMINDME", "M1")
    (answer,) = keyword_replies(app)
    assert "in a week" in answer
    again = [m for m in rows(app, KIND) if m.status == "scheduled"]
    assert [m.due_at for m in again] == [T0 + timedelta(days=37) + DAY_TIME]
    at(app, timedelta(days=37) + DAY_TIME)
    assert len(sent(app, KIND)) == 2 and "add-to-cart=101&quantity=2" in sent(app, KIND)[-1].body_text
    text_in(client, "remind me", "M2")
    assert [m.due_at for m in rows(app, KIND) if m.status == "scheduled"] == [T0 + timedelta(days=44) + DAY_TIME]
    clock.freeze(T0 + timedelta(days=38))
    order(store, "2", created_at=(T0 + timedelta(days=38)).isoformat())  # bought again: the count restarts
    assert [m.due_at for m in rows(app, KIND) if m.status == "scheduled"] == [T0 + timedelta(days=68)]


def test_yes_with_no_reminder_is_an_ordinary_message(app, store, client, signing):
    set_sender(app, store.store_id, STORE_NUMBER)
    store.put_cart("c1", cart_body(customer=SHOPPER))
    assert text_in(client, "YES", "M1")["recorded"] == 1
    assert keyword_replies(app) == []
    with app.app_context():
        assert db.session.scalar(sa.select(ConversationMessage.keyword)) is None


def test_an_old_reminder_is_not_answered_by_a_late_yes(app, store, client, signing):
    reminded(app, store)
    clock.freeze(T0 + timedelta(days=61) + DAY_TIME)
    text_in(client, "YES", "M1")
    assert keyword_replies(app) == []
    with app.app_context():
        assert db.session.query(Message).filter_by(kind=KIND).count() == 1
