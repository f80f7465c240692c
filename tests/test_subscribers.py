"""POST /api/v1/subscribers and the customer's birthday, on SQLite and PostgreSQL: sign-up forms create or match the
customer through the identity rules, record consent with the form as its source, and refuse hostile input."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from retainful.extensions import db
from retainful.models import ConsentEvent, Customer
from tests.conftest import T0, cart_body

NUL, SURROGATE = "\u0000", "\ud800"


def subscribe(shop, body, headers=None):
    return shop.client.post("/api/v1/subscribers", json=body, headers=shop.headers if headers is None else headers)


def customers(app):
    with app.app_context():
        rows = db.session.scalars(sa.select(Customer).order_by(Customer.id)).all()
        db.session.expunge_all()
        return rows


def consent_sources(app):
    with app.app_context():
        return db.session.execute(sa.select(ConsentEvent.channel, ConsentEvent.granted, ConsentEvent.source)
                                  .order_by(ConsentEvent.id)).all()


def test_a_new_subscriber_is_201_and_a_known_one_200(shop, app):
    first = subscribe(shop, {"email": "Alice@Example.com", "first_name": "Alice", "email_consent": True,
                             "source": "popup"})
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert (body["email"], body["first_name"], body["email_consent"]) == ("Alice@example.com", "Alice", True)
    assert body["subscribed_at"].startswith("2026-03-02T09:00:00")
    again = subscribe(shop, {"email": "alice@EXAMPLE.com", "phone": "(212) 736-5000", "sms_consent": True,
                             "source": "footer_form"})
    assert again.status_code == 200
    assert again.get_json()["subscribed_at"] == body["subscribed_at"]  # still the first subscription
    (customer,) = customers(app)
    assert (customer.phone, customer.sms_consent, customer.email_consent) == ("+12127365000", True, True)
    assert consent_sources(app) == [("email", True, "popup"), ("sms", True, "footer_form")]


def test_a_shopper_known_from_a_cart_becomes_a_subscriber_once(shop, app):
    shop.put_cart("c", cart_body())
    assert subscribe(shop, {"email": "alice@example.com"}).status_code == 201
    assert subscribe(shop, {"email": "alice@example.com"}).status_code == 200
    assert len(customers(app)) == 1
    assert consent_sources(app) == [("email", True, "storefront")]  # no consent given, none changed


def test_a_phone_alone_subscribes_and_neither_is_refused(shop, app):
    assert subscribe(shop, {"phone": "+44 20 7946 0958", "sms_consent": True}).status_code == 201
    for body in ({}, {"first_name": "Nobody"}, {"email": None, "phone": None}, {"external_id": "42"}):
        response = subscribe(shop, body)
        assert response.status_code == 400 and "email" in response.get_json()["error"]["fields"], body
    assert [c.phone for c in customers(app)] == ["+442079460958"]


def test_an_explicit_opt_in_lifts_an_earlier_unsubscribe(shop, app):
    subscribe(shop, {"email": "alice@example.com", "email_consent": True})
    with app.app_context():
        from retainful.customers import unsubscribe
        unsubscribe(db.session.scalar(sa.select(Customer)), "unsubscribe_link")
    assert subscribe(shop, {"email": "alice@example.com"}).status_code == 200
    assert customers(app)[0].unsubscribed_at is not None  # a sign-up without consent lifts nothing
    assert subscribe(shop, {"email": "alice@example.com", "email_consent": True, "source": "popup"}).status_code == 200
    (customer,) = customers(app)
    assert (customer.unsubscribed_at, customer.email_consent) == (None, True)
    assert consent_sources(app)[-2:] == [("email", False, "unsubscribe_link"), ("email", True, "popup")]


def test_another_stores_subscriber_is_its_own(shop, make_store, app):
    other = make_store(name="Other", domain="other.example")
    assert subscribe(shop, {"email": "alice@example.com", "first_name": "Alice"}).status_code == 201
    assert subscribe(other, {"email": "alice@example.com", "first_name": "Mallory"}).status_code == 201
    names = {(c.store_id, c.first_name) for c in customers(app)}
    assert names == {(shop.store_id, "Alice"), (other.store_id, "Mallory")}


@pytest.mark.parametrize("birthday, stored", [("07-14", "07-14"), (" 1990-07-14 ", "1990-07-14"),
                                              ("02-29", "02-29"), ("2000-02-29", "2000-02-29"),
                                              ("2026-03-02", "2026-03-02"), ("1900-01-01", "1900-01-01")])
def test_a_birthday_is_stored_in_either_form(shop, app, birthday, stored):
    response = subscribe(shop, {"email": "alice@example.com", "birthday": birthday})
    assert response.status_code == 201 and response.get_json()["birthday"] == stored


@pytest.mark.parametrize("birthday", ["2001-02-29", "13-01", "00-10", "04-31", "2026-03-03", "2027-01-01",
                                      "1899-12-31", "1990-7-14", "14/07/1990", "0714", "", 19900714, True,
                                      ["07-14"], "１９９０-07-14"])
def test_a_birthday_that_is_no_real_past_date_is_a_400(shop, app, birthday):
    response = subscribe(shop, {"email": "alice@example.com", "birthday": birthday})
    assert response.status_code == 400 and "birthday" in response.get_json()["error"]["fields"], response.get_json()
    assert customers(app) == []


def test_the_birthday_comes_in_cart_and_order_bodies_too(shop, app):
    cart = shop.put_cart("c", cart_body(customer={"email": "alice@example.com", "birthday": "11-30"}))
    assert cart.status_code == 201 and cart.get_json()["customer"]["birthday"] == "11-30"
    order = shop.post_order({"order_id": "1", "customer": {"email": "alice@example.com", "birthday": "1988-11-30"},
                             "total": "5", "currency": "USD", "status": "processing"})
    assert order.status_code == 201 and order.get_json()["customer"]["birthday"] == "1988-11-30"
    refused = shop.put_cart("d", cart_body(customer={"email": "bob@example.com", "birthday": "02-30"}))
    assert refused.status_code == 400 and "customer.birthday" in refused.get_json()["error"]["fields"]
    assert [c.birthday for c in customers(app)] == ["1988-11-30"]


# --- hostile input ------------------------------------------------------------------------------------------------

HOSTILE = [
    ("email a number", {"email": 5}, "email"),
    ("email not an address", {"email": "not-an-address"}, "email"),
    ("phone not a number", {"phone": "call me maybe"}, "phone"),
    ("phone a list", {"phone": ["+12127365000"]}, "phone"),
    ("consent a word", {"email": "a@example.com", "email_consent": "maybe"}, "email_consent"),
    ("sms consent a number", {"phone": "+12127365000", "sms_consent": 2}, "sms_consent"),
    ("first name too long", {"email": "a@example.com", "first_name": "x" * 101}, "first_name"),
    ("first name an object", {"email": "a@example.com", "first_name": {"a": 1}}, "first_name"),
    ("source with spaces", {"email": "a@example.com", "source": "Pop Up!"}, "source"),
    ("source too long", {"email": "a@example.com", "source": "p" * 33}, "source"),
    ("source a number", {"email": "a@example.com", "source": 7}, "source"),
    ("NUL in first name", {"email": "a@example.com", "first_name": f"Al{NUL}ice"}, "first_name"),
    ("NUL in source", {"email": "a@example.com", "source": f"popup{NUL}"}, "source"),
    ("NUL in email", {"email": f"a{NUL}@example.com"}, "email"),
    ("lone surrogate in first name", {"email": "a@example.com", "first_name": f"Al{SURROGATE}"}, "first_name"),
    ("lone surrogate in birthday", {"email": "a@example.com", "birthday": f"07-1{SURROGATE}"}, "birthday"),
    ("NUL in an unknown key", {"email": "a@example.com", f"x{NUL}": 1}, "x\\x00"),
]


@pytest.mark.parametrize("body, field", [row[1:] for row in HOSTILE], ids=[row[0] for row in HOSTILE])
def test_hostile_subscriber_input_is_a_400_naming_the_field(shop, app, body, field):
    response = shop.client.post("/api/v1/subscribers", data=json.dumps(body), content_type="application/json",
                                headers=shop.headers)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert field in response.get_json()["error"]["fields"], response.get_json()
    assert customers(app) == [] and consent_sources(app) == []


def test_a_body_that_is_not_a_json_object_is_refused(shop, app):
    headers = shop.headers
    assert shop.client.post("/api/v1/subscribers", data="email=a@example.com", headers=headers).status_code == 415
    for raw in ("{", "[]", '"a@example.com"', "null"):
        response = shop.client.post("/api/v1/subscribers", data=raw, content_type="application/json",
                                    headers=headers)
        assert response.status_code == 400, raw
    huge = json.dumps({"email": "a@example.com", "first_name": "x" * (300 * 1024)})
    response = shop.client.post("/api/v1/subscribers", data=huge, content_type="application/json", headers=headers)
    assert response.status_code == 413
    assert customers(app) == []


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer rtf_forged"}, {"Authorization": "Basic x"}],
                         ids=["missing", "forged", "not bearer"])
def test_without_the_store_key_nothing_is_subscribed(shop, app, headers):
    response = subscribe(shop, {"email": "a@example.com", "email_consent": True}, headers=headers)
    assert response.status_code == 401 and customers(app) == []


def test_a_replayed_sign_up_changes_nothing(shop, app):
    body = {"email": "alice@example.com", "email_consent": True, "sms_consent": False, "phone": "+12127365000",
            "source": "popup"}
    assert subscribe(shop, body).status_code == 201
    before = consent_sources(app)
    for _ in range(3):
        assert subscribe(shop, body).status_code == 200
    assert consent_sources(app) == before and len(customers(app)) == 1
    assert customers(app)[0].subscribed_at == T0
