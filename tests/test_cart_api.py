"""The storefront cart API: reporting, reading and deleting carts, with every failure a plugin can provoke."""
import time
from datetime import timedelta

import pytest

from retainful import clock
from retainful.extensions import db
from retainful.models import Cart, ConsentEvent, Customer
from tests.conftest import T0, cart_body, writes_locked


def test_put_creates_then_replaces_the_cart(shop):
    created = shop.put_cart("tok-1", cart_body())
    assert created.status_code == 201
    cart = created.get_json()
    assert cart["token"] == "tok-1"
    assert cart["status"] == "live"
    assert cart["is_guest"] is True
    assert cart["item_count"] == 3
    assert cart["total"] == "36.95"
    assert cart["currency"] == "USD"
    assert cart["customer"]["email"] == "alice@example.com"
    assert cart["last_activity_at"] == T0.isoformat()

    clock.advance(timedelta(minutes=3))
    replaced = shop.put_cart("tok-1", cart_body(items=[{"product_id": "9", "name": "Spoon", "quantity": 4,
                                                        "price": "1.25"}], subtotal="5.00", total="5.00"))
    assert replaced.status_code == 200
    body = shop.get_cart("tok-1").get_json()
    assert [(i["name"], i["quantity"], i["price"]) for i in body["items"]] == [("Spoon", 4, "1.25")]
    assert body["item_count"] == 4
    assert body["total"] == "5.00"
    assert body["last_activity_at"] == (T0 + timedelta(minutes=3)).isoformat()


def test_reordered_lines_with_the_same_totals_are_replaced_in_report_order(shop, app):
    first = cart_body()
    shop.put_cart("swap", first)
    swapped = cart_body(items=list(reversed(first["items"])))  # same count and subtotal, other order
    replaced = shop.put_cart("swap", swapped).get_json()
    assert [i["name"] for i in replaced["items"]] == ["Tea sampler", "Red mug"]
    assert shop.get_cart("swap").get_json()["items"] == replaced["items"]
    with app.app_context():
        assert [line["name"] for line in db.session.query(Cart).one().lines] == ["Tea sampler", "Red mug"]


def test_put_is_idempotent(shop, app):
    first = shop.put_cart("same", cart_body()).get_json()
    second = shop.put_cart("same", cart_body()).get_json()
    assert first == second
    with app.app_context():
        assert db.session.query(Cart).count() == 1
        assert db.session.query(Customer).count() == 1


def test_get_returns_items_with_exact_money(shop):
    shop.put_cart("t", cart_body())
    body = shop.get_cart("t").get_json()
    assert body["items"][0] == {
        "product_id": "101", "variant_id": None, "sku": "MUG-RED", "name": "Red mug", "quantity": 2,
        "price": "12.50", "image_url": "https://acme.example/img/red.png", "product_url": "https://acme.example/p/red",
    }
    assert body["items"][1]["product_id"] == "102" and body["items"][1]["variant_id"] == "7"
    assert body["subtotal"] == "33.00"


def test_numbers_are_taken_exactly_not_as_floats(shop):
    body = shop.put_cart("n", cart_body(total=0.1, subtotal=0.3)).get_json()
    assert body["total"] == "0.10"
    assert body["subtotal"] == "0.30"


def test_client_clock_is_ignored(shop):
    body = shop.put_cart("c", cart_body(last_activity_at="1999-01-01T00:00:00Z")).get_json()
    assert body["last_activity_at"] == T0.isoformat()


def test_delete_marks_cart_deleted(shop):
    shop.put_cart("d", cart_body())
    assert shop.delete_cart("d").status_code == 204
    assert shop.get_cart("d").get_json()["status"] == "deleted"


def test_unknown_cart_is_404_json(shop):
    for response in (shop.get_cart("nope"), shop.delete_cart("nope")):
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic abc", "Bearer ", "rtf_x"])
def test_missing_or_wrong_key_is_401(client, shop, header):
    headers = {"Authorization": header} if header is not None else {}
    response = client.put("/api/v1/carts/a", json=cart_body(), headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_another_stores_cart_is_invisible(make_store):
    mine, theirs = make_store(), make_store(name="Other", domain="other.example")
    mine.put_cart("shared-token", cart_body())
    assert theirs.get_cart("shared-token").status_code == 404
    assert theirs.delete_cart("shared-token").status_code == 404
    # The other store reporting the same token gets its own cart; mine is untouched.
    assert theirs.put_cart("shared-token", cart_body(recovery_url="https://other.example/c")).status_code == 201
    assert mine.get_cart("shared-token").get_json()["recovery_url"] == "https://acme.example/cart"


def test_validation_errors_name_the_fields(shop):
    body = cart_body(currency="XXQ", total="abc")
    body["items"][0]["quantity"] = 0
    body["items"][1]["price"] = "-1"
    del body["items"][1]["name"]
    response = shop.put_cart("v", body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert set(error["fields"]) == {"currency", "total", "items.0.quantity", "items.1.price", "items.1.name"}
    assert "items.0.quantity" in error["message"]


@pytest.mark.parametrize("bad", [
    {"items": "not a list"},
    {"items": []},
    {"total": True},
    {"total": "1e9999"},
    {"total": "1.23456"},
    {"customer": {"email": "not-an-email"}},
    {"customer": {"phone": "12"}},
    {"customer": "alice"},
    {"recovery_url": "https://evil.example/phish"},
    {"recovery_url": "javascript:alert(1)"},
])
def test_hostile_values_get_400_never_500(shop, bad):
    response = shop.put_cart("h", cart_body(**bad))
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["fields"]


def test_rejected_request_changes_nothing(shop):
    shop.put_cart("keep", cart_body())
    before = shop.get_cart("keep").get_json()
    clock.advance(timedelta(minutes=1))
    assert shop.put_cart("keep", cart_body(customer={"email": "x@y.z", "phone": "nope"})).status_code == 400
    assert shop.get_cart("keep").get_json() == before


def test_too_many_items_and_long_strings_are_refused(shop):
    item = {"product_id": "1", "name": "x", "quantity": 1, "price": "1"}
    assert shop.put_cart("many", cart_body(items=[item] * 501)).status_code == 400
    assert shop.put_cart("long", cart_body(items=[{**item, "name": "x" * 301}])).status_code == 400


def test_bad_tokens_are_refused(shop):
    assert shop.put_cart("a" * 129, cart_body()).status_code == 400
    assert shop.put_cart("bad token", cart_body()).status_code == 400


def test_oversized_body_is_413(shop):
    response = shop.client.put("/api/v1/carts/big", data=b"{" + b" " * (300 * 1024) + b"}",
                               headers={**shop.headers, "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.get_json()["error"]["code"]


@pytest.mark.parametrize("content_type,data", [("text/plain", "hello"), ("text/plain", '{"currency": "USD"}'),
                                                ("application/x-www-form-urlencoded", "a=1")])
def test_non_json_body_is_415(shop, content_type, data):
    response = shop.client.put("/api/v1/carts/x", data=data, headers={**shop.headers, "Content-Type": content_type})
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"


@pytest.mark.parametrize("content_type,data", [
    ("application/json", b"{not json"),
    ("application/json", b'{"currency": "USD", "items": ['),  # cut off in transit
    ("application/json; charset=utf-8", b'{"currency": "USD",}'),
    ("application/json", b'{"currency": "\xff\xfe"}'),  # not UTF-8
    ("application/json", b""),
    ("application/json", b"[" * 100_000 + b"]" * 100_000),  # nests deeper than the parser recurses
])
def test_broken_json_declared_as_json_is_400_invalid_json(app, shop, content_type, data):
    for send in (shop.client.put, shop.client.post):
        path = "/api/v1/carts/broken" if send == shop.client.put else "/api/v1/orders"
        response = send(path, data=data, headers={**shop.headers, "Content-Type": content_type})
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "invalid_json"
    assert shop.get_cart("broken").status_code == 404


def test_json_that_is_not_an_object_is_400(shop):
    response = shop.client.put("/api/v1/carts/x", json=[1, 2], headers=shop.headers)
    assert response.status_code == 400


def test_unknown_fields_are_ignored(shop):
    body = cart_body(plugin_version="9.9", customer={"email": "a@b.example", "loyalty_tier": "gold"})
    body["items"][0]["color"] = "red"
    assert shop.put_cart("u", body).status_code == 201


def test_unicode_is_kept(shop):
    body = cart_body(customer={"email": "zoë@exämple.de", "first_name": "Zoë 🌸"})
    body["items"][0]["name"] = "Tasse «Grün» 茶"
    response = shop.put_cart("uni", body)
    assert response.status_code == 201, response.get_json()
    cart = shop.get_cart("uni").get_json()
    assert cart["customer"]["first_name"] == "Zoë 🌸"
    assert cart["items"][0]["name"] == "Tasse «Grün» 茶"


def test_email_and_phone_are_normalised(shop):
    body = cart_body(customer={"email": "  Alice@EXAMPLE.Com ", "phone": "(415) 555-2671"})
    customer = shop.put_cart("norm", body).get_json()["customer"]
    assert customer["email"] == "Alice@example.com"
    assert customer["phone"] == "+14155552671"  # the store's country (US) is the default region


def test_one_shopper_on_two_devices_is_one_customer(shop, app):
    for token, customer in (("laptop", {"email": "bob@example.com", "phone": "+44 7911 123456"}),
                            ("phone", {"email": "BOB@example.com"}),
                            ("tablet", {"phone": "+447911123456", "external_id": 55})):
        assert shop.put_cart(token, cart_body(customer=customer)).status_code == 201
    with app.app_context():
        customers = db.session.query(Customer).all()
        assert len(customers) == 1
        assert customers[0].external_id == "55"
        assert {c.customer_id for c in db.session.query(Cart)} == {customers[0].id}
    assert shop.get_cart("tablet").get_json()["is_guest"] is False


def test_guest_cart_without_contact_is_tracked_but_unreachable(shop):
    body = shop.put_cart("guest", cart_body(customer=None)).get_json()
    assert body["is_guest"] is True
    assert body["customer"] is None
    assert body["reachable"] is False


def test_absent_consent_leaves_it_and_changes_are_recorded(shop, app):
    shop.put_cart("c1", cart_body(customer={"email": "c@example.com", "email_consent": True, "sms_consent": True}))
    clock.advance(timedelta(hours=1))
    shop.put_cart("c1", cart_body(customer={"email": "c@example.com"}))
    body = shop.get_cart("c1").get_json()["customer"]
    assert body["email_consent"] is True and body["sms_consent"] is True
    clock.advance(timedelta(hours=1))
    shop.put_cart("c1", cart_body(customer={"email": "c@example.com", "sms_consent": False}))
    with app.app_context():
        customer = db.session.query(Customer).one()
        assert customer.sms_consent is False
        assert customer.sms_consent_at == T0 + timedelta(hours=2)
        assert customer.sms_consent_source == "storefront"
        events = [(e.channel, e.granted, e.at) for e in db.session.query(ConsentEvent).order_by(ConsentEvent.id)]
    assert events == [("email", True, T0), ("sms", True, T0), ("sms", False, T0 + timedelta(hours=2))]


def test_reporting_an_ordered_cart_token_starts_a_new_cart(shop):
    shop.put_cart("reuse", cart_body())
    shop.post_order({"order_id": "o1", "cart_token": "reuse", "total": "36.95", "currency": "USD",
                     "status": "processing"})
    again = shop.put_cart("reuse", cart_body())
    assert again.status_code == 201
    assert again.get_json()["status"] == "live"
    assert shop.client.get("/api/v1/orders/o1", headers=shop.headers).get_json()["cart_status"] == "converted"


def test_writes_while_the_database_is_locked_are_503_with_retry_after_at_once(app, shop):
    """A locked database is "retry later", answered before a waitress thread is held for long; nothing half-stored."""
    shop.put_cart("before", cart_body())
    with writes_locked(app):
        started = time.monotonic()
        put = shop.put_cart("locked", cart_body())
        order = shop.post_order({"order_id": "w1", "total": "5", "currency": "USD", "status": "processing"})
        elapsed = time.monotonic() - started
        assert shop.get_cart("before").status_code == 200  # reads go on
    for response in (put, order):
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert response.get_json()["error"]["code"] == "database_unavailable"
    assert elapsed < 3  # two requests, each waiting half a second for the lock (it was 10 s each, then a 500)
    assert shop.get_cart("locked").status_code == 404
    assert shop.put_cart("locked", cart_body()).status_code == 201  # the retry works
