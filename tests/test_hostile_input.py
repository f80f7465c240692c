"""The security audit's hostile inputs (F12 and "accepted but wrong"), on SQLite and PostgreSQL: each answers a 400
naming the field (never a 500), and nothing of a refused request is stored."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
import sqlalchemy as sa

from retainful.extensions import db
from retainful.models import Cart, Order, Step, Store
from retainful.stores import StoreSettingsError, create_store
from tests.conftest import cart_body
from tests.test_admin import PASSWORD, add_user, csrf_token, logged_in, post

NUL, SURROGATE = "\u0000", "\ud800"


def order_body(**overrides):
    return {"order_id": "fz1", "total": "36.95", "currency": "USD", "status": "processing", **overrides}


def customer(**overrides):
    return {**cart_body()["customer"], **overrides}


def item(**overrides):
    return [{**cart_body()["items"][0], **overrides}]


# (id, method, path, JSON body or None, query string, the field the 400 must name)
API_ROWS = [
    ("1 full-width slash in the recovery_url host", "PUT", "/api/v1/carts/fz", cart_body(
        recovery_url="https://evil.com\uff0f.acme.example/"), None, "recovery_url"),
    ("2 full-width at in the recovery_url host", "PUT", "/api/v1/carts/fz", cart_body(
        recovery_url="https://evil.com\uff20acme.example/"), None, "recovery_url"),
    ("3 created_at before year 1 in UTC", "POST", "/api/v1/orders", order_body(
        created_at="0001-01-01T00:00:00+14:00"), None, "created_at"),
    ("4 created_at after year 9999 in UTC", "POST", "/api/v1/orders", order_body(
        created_at="9999-12-31T23:59:59-12:00"), None, "created_at"),
    ("created_at in 1970", "POST", "/api/v1/orders", order_body(created_at="1970-01-01T00:00:00Z"), None,
     "created_at"),
    ("5 report to year 1", "GET", "/api/v1/reports/summary", None, {"to": "0001-01-01"}, "to"),
    ("6 report from year 9999", "GET", "/api/v1/reports/summary", None, {"from": "9999-12-31"}, "from"),
    ("7 report to year 9999", "GET", "/api/v1/reports/summary", None, {"to": "9999-12-31"}, "to"),
    ("8 report from and to at year 9999", "GET", "/api/v1/reports/summary", None,
     {"from": "9999-12-30", "to": "9999-12-31"}, "from"),
    ("9 daily.csv to year 1", "GET", "/api/v1/reports/daily.csv", None, {"to": "0001-01-01"}, "to"),
    ("report to empty", "GET", "/api/v1/reports/funnel", None, {"to": ""}, "to"),
    ("before-after superscript days", "GET", "/api/v1/reports/before-after", None, {"days": "\u00b2"}, "days"),
    ("20 NUL in customer.first_name", "PUT", "/api/v1/carts/fz", cart_body(customer=customer(
        first_name=f"Al{NUL}ice")), None, "customer.first_name"),
    ("21 lone surrogate in customer.first_name", "PUT", "/api/v1/carts/fz", cart_body(customer=customer(
        first_name=f"Al{SURROGATE}ice")), None, "customer.first_name"),
    ("22 NUL in order_id", "POST", "/api/v1/orders", order_body(order_id=f"fz{NUL}2"), None, "order_id"),
    ("23 NUL in order status", "POST", "/api/v1/orders", order_body(status=f"process{NUL}ing"), None, "status"),
    ("24 NUL in template source", "PUT", "/api/v1/templates/sms/abandoned_cart/step1",
     {"source": f"Hi{NUL} {{{{ store.name }}}} STOP"}, None, "source"),
    ("25 NUL in a coupon code path", "GET", "/api/v1/coupons/AB%00CD", None, None, "code"),
    ("26 NUL in an order id path", "GET", "/api/v1/orders/ab%00cd", None, None, "order_id"),
    ("NUL in a cart token path", "DELETE", "/api/v1/carts/ab%00cd", None, None, "token"),
    ("NUL in a query parameter", "GET", "/api/v1/coupons/ABCD", None, {"email": f"a{NUL}@b.example"}, "email"),
    ("NUL in a query parameter name", "GET", "/api/v1/reports/summary", None, {f"x{NUL}": "1"}, "x\\x00"),
    ("NUL in item name", "PUT", "/api/v1/carts/fz", cart_body(items=item(name=f"Red{NUL}mug")), None,
     "items.0.name"),
    ("NUL in item sku", "PUT", "/api/v1/carts/fz", cart_body(items=item(sku=f"MUG{NUL}")), None, "items.0.sku"),
    ("NUL in item product_id", "PUT", "/api/v1/carts/fz", cart_body(items=item(product_id=f"1{NUL}")), None,
     "items.0.product_id"),
    ("lone surrogate in item name", "PUT", "/api/v1/carts/fz", cart_body(items=item(name=f"Red {SURROGATE}")),
     None, "items.0.name"),
    ("lone low surrogate in coupon_codes", "POST", "/api/v1/orders", order_body(coupon_codes=["\udc00"]), None,
     "coupon_codes.0"),
    ("NUL in an unknown key", "PUT", "/api/v1/carts/fz", {**cart_body(), f"extra{NUL}": 1}, None, "extra\\x00"),
    ("NUL in a nested unknown value", "PUT", "/api/v1/carts/fz", {**cart_body(), "meta": {"a": [1, f"{NUL}"]}},
     None, "meta.a.1"),
    ("automations report to year 1", "GET", "/api/v1/reports/automations", None, {"to": "0001-01-01"}, "to"),
    ("NUL in an automation step's delay", "PUT", "/api/v1/automations/win_back", {"enabled": True, "steps": [
        {"position": 1, "delay": f"30{NUL}d", "at_hour": 10, "channels": ["email"], "coupon": None,
         "enabled": True}]}, None, "steps.0.delay"),
    ("lone surrogate in an automation's kind", "PUT", "/api/v1/automations/win_back", {
        "kind": SURROGATE, "enabled": True, "steps": []}, None, "kind"),
]


def _send(shop, method, path, body, query):
    kwargs = {"headers": shop.headers, "query_string": query}
    if body is not None:  # json.dumps escapes lone surrogates as \ud800, as a plugin's JSON encoder would
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return shop.client.open(path, method=method, **kwargs)


@pytest.mark.parametrize("method, path, body, query, field", [row[1:] for row in API_ROWS],
                         ids=[row[0] for row in API_ROWS])
def test_hostile_api_input_is_a_400_naming_the_field_and_nothing_is_stored(app, shop, method, path, body, query,
                                                                           field):
    response = _send(shop, method, path, body, query)
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "validation_error" and field in error["fields"], error
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Cart)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Order)) == 0


def test_the_nul_check_walks_a_body_nested_as_deep_as_the_parser_allows(shop):
    deep = cart_body()
    deep["meta"] = json.loads("[" * 900 + json.dumps(NUL) + "]" * 900)
    response = _send(shop, "PUT", "/api/v1/carts/deep", deep, None)
    assert response.status_code == 400 and "meta" + ".0" * 900 in response.get_json()["error"]["fields"]


def test_dates_at_the_bounds(shop):
    placed = shop.post_order(order_body(created_at="2000-01-01T00:00:00+14:00"))  # 1999-12-31 in UTC
    assert placed.status_code == 400 and "created_at" in placed.get_json()["error"]["fields"]
    placed = shop.post_order(order_body(created_at="2100-12-31T23:59:59Z"))
    assert placed.status_code == 201 and placed.get_json()["placed_at"].startswith("2100-12-31T23:59:59")
    report = shop.client.get("/api/v1/reports/summary", headers=shop.headers,
                             query_string={"from": "2000-01-01", "to": "2000-12-31"})
    assert report.status_code == 200 and report.get_json()["from"] == "2000-01-01"


def test_minus_zero_is_stored_and_echoed_as_zero(shop):
    response = shop.put_cart("zero", cart_body(total="-0", subtotal="-0.00"))
    assert response.status_code == 201
    assert (response.get_json()["total"], response.get_json()["subtotal"]) == ("0.00", "0.00")
    order = shop.post_order(order_body(total="-0"))
    assert order.status_code == 201 and order.get_json()["total"] == "0.00"


@pytest.fixture
def owner(app, shop):
    user = add_user(app, "owner@acme.test", "owner", [shop.store_id])
    client = logged_in(app, user)
    return client, csrf_token(client)


def _step(app, shop, position):
    with app.app_context():
        step = db.session.scalar(sa.select(Step).where(Step.store_id == shop.store_id, Step.position == position,
                                                    Step.sequence.has(kind="abandoned_cart")))
        return step.delay_minutes, step.coupon_type, step.coupon_amount


STEP = {"delay_value": "8", "delay_unit": "hours", "email": "1", "enabled": "1"}
ADMIN_ROWS = [
    ("19 delay overflowing timedelta", {**STEP, "delay_value": "999999999999", "delay_unit": "days"}, "delay_value"),
    ("delay of 61 days", {**STEP, "delay_value": "61", "delay_unit": "days"}, "delay_value"),
    ("fixed coupon 1e999", {**STEP, "coupon_type": "fixed", "coupon_amount": "1e999"}, "coupon_amount"),
    ("percent coupon 1e999", {**STEP, "coupon_type": "percent", "coupon_amount": "1e999"}, "coupon_amount"),
    ("fixed coupon over MAX_AMOUNT", {**STEP, "coupon_type": "fixed", "coupon_amount": "1000000000001"},
     "coupon_amount"),
    ("coupon amount with 5 places", {**STEP, "coupon_type": "fixed", "coupon_amount": "1.00001"}, "coupon_amount"),
    ("coupon minimum 1e999", {**STEP, "coupon_type": "fixed", "coupon_amount": "5", "coupon_minimum": "1e999"},
     "coupon_minimum"),
]


@pytest.mark.parametrize("form, field", [row[1:] for row in ADMIN_ROWS], ids=[row[0] for row in ADMIN_ROWS])
def test_hostile_sequence_step_forms_are_a_400_naming_the_field(app, shop, owner, form, field):
    client, token = owner
    before = _step(app, shop, 2)
    response = post(client, "/admin/sequence/step/2", form, token)
    assert response.status_code == 400
    assert f'data-field="{field}"' in response.get_data(as_text=True)
    assert _step(app, shop, 2) == before


@pytest.mark.parametrize("path, form, field", [
    ("/admin/settings/general", {"name": f"Acme{NUL}", "abandon_after_minutes": "15"}, "name"),
    ("/admin/sequence/step/2", {**STEP, "delay_unit": f"hours{NUL}"}, "delay_unit"),
    ("/admin/settings/woocommerce", {"woo_url": "https://shop.acme.example", "woo_consumer_key": f"ck{NUL}"},
     "woo_consumer_key"),
], ids=["store name", "sequence", "woocommerce key"])
def test_nul_in_any_admin_form_is_a_400_naming_the_field(app, shop, owner, path, form, field):
    client, token = owner
    response = post(client, path, form, token)
    assert response.status_code == 400 and field in response.get_json()["error"]["fields"]
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        assert (store.name, store.woo_consumer_key) == ("Acme Mugs", None)
    assert client.get("/admin/carts/", query_string={"q": f"a{NUL}"}).status_code == 400


def test_a_bounded_coupon_and_minus_zero_minimum_are_saved(app, shop, owner):
    client, token = owner
    response = post(client, "/admin/sequence/step/2", {**STEP, "coupon_type": "fixed",
                                                       "coupon_amount": "1000000000000", "coupon_minimum": "-0"},
                    token)
    assert response.status_code == 302
    assert _step(app, shop, 2) == (480, "fixed", Decimal("1000000000000"))


@pytest.mark.parametrize("target", ["//evil.example\uff20acme.example/", "//evil.example\uff0f/admin"])
def test_a_full_width_login_next_is_ignored(app, client, shop, target):
    add_user(app, "owner@acme.test", "owner", [shop.store_id])
    response = post(client, "/admin/login", {"email": "owner@acme.test", "password": PASSWORD, "next": target},
                    csrf_token(client, "/admin/login"))
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"


@pytest.mark.parametrize("domain", ["https://evil.example\uff20acme.example/", "https://[::1"])
def test_a_store_domain_that_urlsplit_refuses_is_a_settings_error(app, domain):
    with app.app_context(), pytest.raises(StoreSettingsError, match="domain"):
        create_store("Acme", domain)
