"""WooCommerce: signed order webhooks, the coupon sync and the order pull, against a stub shop speaking wc/v3."""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from retainful import clock
from retainful.coupons.woo_sync import coupon_body, sync_due_coupons
from retainful.errors import FieldError
from retainful.extensions import db
from retainful.models import Coupon, Order, Store, SyncState, WebhookDelivery
from retainful.orders import woocommerce
from retainful.orders.woocommerce import order_data_from_woo, pull_all_orders, pull_orders, verify_signature
from tests.conftest import T0, cart_body
from tests.woo_stub import TricklingShop, WooStub, params_of, wc_json, woo_error, woo_order_payload

KEY, SECRET = "ck_test_0123456789", "cs_test_9876543210"


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def deliver(shop, payload, topic="order.created", secret=None, signature=..., store_id=None, delivery_id=None):
    """A delivery as WooCommerce makes it: the exact body bytes, its headers, the signature over those bytes, and a
    delivery id of its own (``wp_hash(webhook_id . time)``: 32 hex characters)."""
    body = payload if isinstance(payload, bytes) else wc_json(payload)
    headers = {"X-WC-Webhook-Source": "https://acme.example/", "X-WC-Webhook-Topic": topic,
               "X-WC-Webhook-Resource": topic.split(".")[0], "X-WC-Webhook-Event": topic.split(".")[-1],
               "X-WC-Webhook-ID": "12", "X-WC-Webhook-Delivery-ID": delivery_id or uuid.uuid4().hex,
               "User-Agent": "WooCommerce/8.6.1 Hookshot (WordPress/6.4.3)"}
    if signature is ...:
        signature = sign(secret or shop.issued.webhook_secret, body)
    if signature is not None:
        headers["X-WC-Webhook-Signature"] = signature
    return shop.client.post(f"/api/v1/webhooks/woocommerce/{store_id or shop.store_id}", data=body,
                            content_type="application/json", headers=headers)


def orders_in(app) -> list[Order]:
    with app.app_context():
        return list(db.session.scalars(sa.select(Order)))


@pytest.fixture
def woo(app, shop):
    """A stub shop the ``shop`` store is connected to (on 127.0.0.1: the private-address opt-in is on)."""
    app.config["ALLOW_PRIVATE_SHOP_URLS"] = True
    with WooStub(credentials=(KEY, SECRET)) as stub:
        with app.app_context():
            store = db.session.get(Store, shop.store_id)
            store.woo_url, store.woo_consumer_key, store.woo_consumer_secret = stub.base_url + "/", KEY, SECRET
            db.session.commit()
        yield stub


def add_coupon(app, store_id, code="RTF-SAVE10", discount_type="percent", amount=Decimal(10), **fields) -> int:
    with app.app_context():
        coupon = Coupon(store_id=store_id, code=code, kind="recovery", discount_type=discount_type, amount=amount,
                        currency="USD", expires_at=T0 + timedelta(hours=48), sync_state=SyncState.PENDING,
                        sync_due_at=clock.now(), **fields)
        db.session.add(coupon)
        db.session.commit()
        return coupon.id


def coupon_row(app, coupon_id) -> Coupon:
    with app.app_context():
        coupon = db.session.get(Coupon, coupon_id)
        db.session.expunge(coupon)
        return coupon


def run(app, fn, *args):
    with app.app_context():
        try:
            return fn(*args)
        finally:
            db.session.remove()


# --- webhooks -----------------------------------------------------------------------------------------------------

def test_signed_order_created_records_the_order_and_closes_the_cart(app, shop):
    shop.put_cart("cart-1", cart_body())
    response = deliver(shop, woo_order_payload(cart_token="cart-1"))
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"order_id": "727", "status": "processing", "created": True}
    assert shop.get_cart("cart-1").get_json()["status"] == "converted"
    order = shop.client.get("/api/v1/orders/727", headers=shop.headers).get_json()
    assert (order["total"], order["currency"], order["coupon_codes"], order["cart_token"]) == (
        "34.70", "USD", ["SAVE10"], "cart-1")
    assert order["customer"]["email"] == "alice@example.com" and order["customer"]["phone"] == "+12127365000"


def test_order_updated_applies_the_new_status(app, shop):
    deliver(shop, woo_order_payload())
    response = deliver(shop, woo_order_payload(status="completed", date_modified_gmt="2026-03-03T10:00:00"),
                       topic="order.updated")
    assert response.status_code == 200
    assert response.get_json() == {"order_id": "727", "status": "completed", "created": False}
    assert shop.client.get("/api/v1/orders/727", headers=shop.headers).get_json()["status"] == "completed"


def test_a_repeated_delivery_is_idempotent(app, shop):
    payload = woo_order_payload()
    first, again = deliver(shop, payload), deliver(shop, payload)
    assert (first.get_json()["created"], again.get_json()["created"]) == (True, False)
    assert len(orders_in(app)) == 1


@pytest.mark.parametrize("signature", ["bm90IHRoZSBzaWduYXR1cmU=", "", "garbage ünicode", None])
def test_a_bad_or_missing_signature_is_401_and_stores_nothing(app, shop, signature):
    shop.put_cart("cart-1", cart_body())
    response = deliver(shop, woo_order_payload(), signature=signature)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert orders_in(app) == [] and shop.get_cart("cart-1").get_json()["status"] == "live"


def test_a_signature_over_other_bytes_is_refused(app, shop):
    """The signature covers the exact bytes: re-encoding the same JSON differently breaks it."""
    payload = woo_order_payload()
    body = wc_json(payload)
    response = deliver(shop, body.replace(b"\\/", b"/"), signature=sign(shop.issued.webhook_secret, body))
    assert response.status_code == 401 and orders_in(app) == []


def test_another_stores_secret_is_401(app, shop, make_store):
    other = make_store(name="Other", domain="other.example")
    response = deliver(shop, woo_order_payload(), secret=other.issued.webhook_secret)
    assert response.status_code == 401 and orders_in(app) == []


def test_the_api_key_does_not_replace_the_signature(app, shop):
    response = shop.client.post(f"/api/v1/webhooks/woocommerce/{shop.store_id}", json=woo_order_payload(),
                                headers={**shop.headers, "X-WC-Webhook-Topic": "order.created"})
    assert response.status_code == 401 and orders_in(app) == []


def test_the_ping_at_webhook_creation_gets_200_and_stores_nothing(app, shop):
    response = shop.client.post(f"/api/v1/webhooks/woocommerce/{shop.store_id}", data="webhook_id=12",
                                content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert orders_in(app) == []


@pytest.mark.parametrize("store_id", ["999999", "abc", "99999999999999999999", "-1"])
def test_an_unknown_store_is_404_json(app, shop, store_id):
    response = deliver(shop, woo_order_payload(), store_id=store_id)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_other_topics_are_acknowledged_and_ignored(app, shop):
    response = deliver(shop, {"id": 42, "code": "x"}, topic="coupon.created")
    assert response.status_code == 200 and response.get_json() == {"ignored": "coupon.created"}
    deleted = deliver(shop, {"id": 727}, topic="order.deleted")
    assert deleted.get_json() == {"ignored": "order.deleted", "reason": "No such order."} and orders_in(app) == []


def test_a_checkout_draft_is_not_an_order(app, shop):
    """Block checkout's draft order exists while the shopper is still deciding: the cart must stay recoverable."""
    shop.put_cart("cart-1", cart_body())
    response = deliver(shop, woo_order_payload(status="checkout-draft"), topic="order.updated")
    assert response.status_code == 200 and "ignored" in response.get_json()
    assert orders_in(app) == [] and shop.get_cart("cart-1").get_json()["status"] == "live"


@pytest.mark.parametrize("changes, field", [
    ({"id": None}, "id"),
    ({"total": None}, "total"),
    ({"total": "12,50"}, "total"),
    ({"total": "-1.00"}, "total"),
    ({"total": True}, "total"),
    ({"currency": ""}, "currency"),
    ({"currency": "DOLLARS"}, "currency"),
    ({"status": 7}, "status"),
    ({"date_created_gmt": "yesterday"}, "date_created_gmt"),
    ({"coupon_lines": "save10"}, "coupon_lines"),
    ({"id": "9" * 65}, "id"),
    ({"date_created_gmt": "0001-01-01T00:00:00+05:00"}, "date_created_gmt"),  # the audit's F12 rows 15 and 16
    ({"date_created_gmt": "9999-12-31T23:00:00-05:00"}, "date_created_gmt"),
    ({"date_modified_gmt": "9999-12-31T23:00:00-05:00"}, "date_modified_gmt"),
    ({"date_modified_gmt": 1772442000}, "date_modified_gmt"),
    ({"refunds": "-5.00"}, "refunds"),
    ({"refunds": [{"id": 1, "total": "5.00"}]}, "refunds.0.total"),
    ({"refunds": [{"id": 1, "total": "-5.00"}, {"id": 2, "total": "-1e999"}]}, "refunds.1.total"),
    ({"refunds": [{"id": 1}]}, "refunds.0.total"),
    ({"id": "7\u00002"}, "id"),  # PostgreSQL text cannot hold a NUL, UTF-8 no lone surrogate: these were 500s
    ({"status": "proc\u0000essing"}, "status"),
    ({"status": "proc\ud800"}, "status"),
])
def test_payloads_that_cannot_be_orders_are_400_naming_the_field(app, shop, changes, field):
    payload = {key: value for key, value in woo_order_payload(**changes).items() if value is not None}
    response = deliver(shop, payload)
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_error" and field in error["fields"]
    assert orders_in(app) == []


def test_bodies_that_are_not_json_objects(app, shop):
    assert deliver(shop, b"[1, 2]").status_code == 400
    broken = deliver(shop, b"{not json")
    assert broken.status_code == 400 and broken.get_json()["error"]["code"] == "invalid_json"
    body = wc_json(woo_order_payload())
    as_form = shop.client.post(f"/api/v1/webhooks/woocommerce/{shop.store_id}", data=body,
                               content_type="text/plain", headers={"X-WC-Webhook-Topic": "order.created",
                                                                   "X-WC-Webhook-Signature": sign(
                                                                       shop.issued.webhook_secret, body)})
    assert as_form.status_code == 415 and orders_in(app) == []


def test_an_unusable_billing_phone_does_not_lose_the_order(app, shop):
    """WooCommerce's phone field is free text; the order (which stops recovery) matters more than the number."""
    payload = woo_order_payload(billing={**woo_order_payload()["billing"], "phone": "12"})
    response = deliver(shop, payload)
    assert response.status_code == 200 and response.get_json()["created"] is True
    customer = shop.client.get("/api/v1/orders/727", headers=shop.headers).get_json()["customer"]
    assert customer["email"] == "alice@example.com" and customer["phone"] is None


def test_unstorable_billing_text_is_dropped_not_a_500(app, shop):
    billing = {**woo_order_payload()["billing"], "first_name": "Al\u0000ice", "last_name": "D\ud800oe",
               "email": "al\u0000ice@example.com"}
    response = deliver(shop, woo_order_payload(billing=billing, coupon_lines=[{"id": 1, "code": "SA\ud800VE"}]))
    assert response.status_code == 200 and response.get_json()["created"] is True
    order = shop.client.get("/api/v1/orders/727", headers=shop.headers).get_json()
    assert order["coupon_codes"] == [] and order["customer"]["email"] is None
    assert order["customer"]["phone"] == "+12127365000"


def test_a_body_over_the_limit_is_413(app, shop):
    payload = woo_order_payload(customer_note="x" * 300_000)
    assert deliver(shop, payload).status_code == 413 and orders_in(app) == []


def test_the_gmt_creation_date_becomes_an_aware_utc_datetime(app, shop):
    deliver(shop, woo_order_payload(date_created="2026-03-01T17:15:00", date_created_gmt="2026-03-01T22:15:00"))
    (order,) = orders_in(app)
    assert order.placed_at == datetime(2026, 3, 1, 22, 15, tzinfo=timezone.utc)
    assert order.placed_at.utcoffset() == timedelta(0)


def order_status(shop, order_id="727"):
    return shop.client.get(f"/api/v1/orders/{order_id}", headers=shop.headers).get_json()["status"]


def test_an_older_delivery_changes_nothing(app, shop):
    """The audit's F9: replaying the signed order.created body as an update turned a refunded order back."""
    placed = woo_order_payload(date_modified_gmt="2026-03-02T10:00:00")
    assert deliver(shop, placed).get_json()["created"] is True
    refunded = woo_order_payload(status="refunded", date_modified_gmt="2026-03-02T11:00:00",
                                 refunds=[{"id": 730, "reason": "", "total": "-34.70"}])
    assert deliver(shop, refunded, topic="order.updated").get_json()["status"] == "refunded"
    replay = deliver(shop, placed, topic="order.updated")
    assert replay.status_code == 200 and replay.get_json()["status"] == "refunded"
    assert order_status(shop) == "refunded"
    (order,) = orders_in(app)
    assert (order.shop_modified_at, order.refunded) == (datetime(2026, 3, 2, 11, tzinfo=timezone.utc), Decimal("34.70"))
    completed = woo_order_payload(status="completed", date_modified_gmt="2026-03-02T11:00:00")  # the same second
    assert deliver(shop, completed, topic="order.updated").get_json()["status"] == "completed"


def test_a_repeated_delivery_id_changes_nothing(app, shop):
    deliver(shop, woo_order_payload(), delivery_id="6f1d0c5e8b2a4d7f9e3c1b0a5d8f2e4c")
    later = woo_order_payload(status="completed", date_modified_gmt="2026-03-02T12:00:00")
    repeat = deliver(shop, later, topic="order.updated", delivery_id="6f1d0c5e8b2a4d7f9e3c1b0a5d8f2e4c")
    assert repeat.status_code == 200 and "ignored" in repeat.get_json()
    assert order_status(shop) == "processing"
    assert deliver(shop, later, topic="order.updated").get_json()["status"] == "completed"  # its own id: applied


@pytest.mark.parametrize("delivery_id", ["", "x" * 500, "a b", "é"])
def test_an_odd_delivery_id_is_not_remembered_but_the_order_is(app, shop, make_store, delivery_id):
    assert deliver(shop, woo_order_payload(), delivery_id=delivery_id or None).get_json()["created"] is True
    later = woo_order_payload(status="completed", date_modified_gmt="2026-03-02T12:00:00")
    assert deliver(shop, later, topic="order.updated", delivery_id=delivery_id or None).get_json()[
        "status"] == "completed"


def test_delivery_ids_are_per_store_and_kept_for_a_week(app, shop, make_store):
    other = make_store(name="Other", domain="other.example")
    same_id = "0123456789abcdef0123456789abcdef"
    deliver(shop, woo_order_payload(), delivery_id=same_id)
    assert deliver(other, woo_order_payload(), delivery_id=same_id).get_json()["created"] is True
    clock.advance(timedelta(days=8))
    deliver(shop, woo_order_payload(id=728), delivery_id="f" * 32)  # prunes what is older than a week
    later = woo_order_payload(status="completed", date_modified_gmt="2026-03-09T12:00:00")
    assert deliver(shop, later, topic="order.updated", delivery_id=same_id).get_json()["status"] == "completed"
    with app.app_context():
        assert db.session.query(WebhookDelivery).count() == 2  # both stores' week-old ids are gone: bounded


def test_a_trashed_or_deleted_order_is_void_until_restored(app, shop):
    deliver(shop, woo_order_payload(date_modified_gmt="2026-03-02T08:56:10"))
    deleted = deliver(shop, {"id": 727}, topic="order.deleted")
    assert deleted.get_json() == {"order_id": "727", "status": "trash", "created": False}
    assert deliver(shop, woo_order_payload(), topic="order.updated").get_json()["status"] == "trash"  # older
    clock.advance(timedelta(minutes=5))
    restored = woo_order_payload(date_modified_gmt="2026-03-02T09:04:00")
    assert deliver(shop, restored, topic="order.restored").get_json()["status"] == "processing"
    assert deliver(shop, {"id": None}, topic="order.deleted").status_code == 400


def test_the_pull_follows_the_same_rule(app, shop, woo):
    deliver(shop, woo_order_payload(status="refunded", date_modified_gmt="2026-03-02T08:58:00"))
    woo.orders = [woo_order_payload(status="processing", date_modified_gmt="2026-03-02T08:57:00")]
    run(app, pull_all_orders)
    assert order_status(shop) == "refunded"


# --- mapping and signature, without HTTP --------------------------------------------------------------------------

def test_order_data_from_woo_maps_the_rest_v3_order():
    data = order_data_from_woo(woo_order_payload(cart_token="tok.9", customer_id=31, status="wc-on-hold"))
    assert data == {
        "order_id": "727", "cart_token": "tok.9", "status": "on-hold", "total": Decimal("34.70"), "currency": "USD",
        "customer": {"email": "alice@example.com", "phone": "(212) 736-5000", "first_name": "Alice",
                     "last_name": "Doe", "external_id": "31"},
        "coupon_codes": ["save10"], "created_at": datetime(2026, 3, 2, 8, 55, tzinfo=timezone.utc),
        "modified_at": datetime(2026, 3, 2, 8, 56, 10, tzinfo=timezone.utc), "refunded": Decimal(0),
        "completed_at": None, "tracking": None,  # not completed, no Shipment Tracking meta
        "items": [{"product_id": "101", "quantity": 2, "variant_id": None, "name": "Red mug"},
                  {"product_id": "102", "quantity": 1, "variant_id": "7", "name": "Tea sampler"}],
    }
    refunds = [{"id": 730, "reason": "Broken mug", "total": "-12.50"}, {"id": 731, "reason": "", "total": "-1.25"}]
    assert order_data_from_woo(woo_order_payload(refunds=refunds))["refunded"] == Decimal("13.75")
    assert order_data_from_woo({**woo_order_payload(), "refunds": None})["refunded"] is None  # not told: as stored


def test_order_data_from_woo_reads_either_meta_key_and_blank_fields_as_absent():
    payload = woo_order_payload(cart_token=None, date_created_gmt=None, coupon_lines=[],
                                billing={"email": "", "phone": "", "first_name": "", "last_name": ""})
    payload["meta_data"].append({"id": 1, "key": "retainful_cart_token", "value": "abc"})
    data = order_data_from_woo(payload)
    assert data["cart_token"] == "abc" and data["created_at"] is None and data["coupon_codes"] == []
    assert data["customer"] == {"email": None, "phone": None, "first_name": None, "last_name": None,
                                "external_id": None}
    bad_token = woo_order_payload(cart_token="no spaces allowed")
    assert order_data_from_woo(bad_token)["cart_token"] is None
    with pytest.raises(FieldError) as error:
        order_data_from_woo({"id": 5})
    assert error.value.field == "total"


def test_a_shop_running_the_retainful_plugin_closes_the_cart_named_by_its_order_meta(app, shop):
    """The official plugin copies its cart token onto the order as `_rnoc_user_cart_token`, among its other meta. The
    cart's shopper typed another address than the order's billing one, so only the token can tie them."""
    token = "5f2b8e0c9a1d4e7f8b3c6a2d1e0f9b8a"  # generateCartToken(): md5, 32 lower-case hex characters
    shop.put_cart(token, cart_body(customer={"email": "alice.work@example.com", "email_consent": True}))
    payload = woo_order_payload(cart_token=None)
    payload["meta_data"] += [
        {"id": 9101, "key": "_rnoc_user_cart_token", "value": token},
        {"id": 9102, "key": "_rnoc_cart_hash", "value": "9d1e0c3b7a2f4e6d8c5b1a0f9e8d7c6b"},
        {"id": 9103, "key": "_rnoc_cart_tracking_started_at", "value": "1772441730"},
        {"id": 9104, "key": "_rnoc_is_buyer_accepts_marketing", "value": "1"},
        {"id": 9105, "key": "_rnoc_user_ip_address", "value": "203.0.113.7"},
    ]
    response = deliver(shop, payload)
    assert response.status_code == 200, response.get_json()
    assert shop.get_cart(token).get_json()["status"] == "converted"
    assert shop.client.get("/api/v1/orders/727", headers=shop.headers).get_json()["cart_token"] == token


def test_verify_signature():
    body = wc_json(woo_order_payload())
    assert verify_signature("s3cret", body, sign("s3cret", body))
    assert not verify_signature("s3cret", body + b" ", sign("s3cret", body))
    assert not verify_signature("s3cret", body, None) and not verify_signature("", body, sign("", body))
    # WooCommerce decodes HTML entities in the stored secret before signing.
    assert verify_signature("a&amp;b&quot;c", body, sign('a&b"c', body))


# --- coupon sync --------------------------------------------------------------------------------------------------

def test_a_pending_coupon_is_created_in_the_shop(app, shop, woo):
    coupon_id = add_coupon(app, shop.store_id, email="alice@example.com", minimum_total=Decimal("50.00"))
    assert run(app, sync_due_coupons) == {"synced": 1}
    coupon = coupon_row(app, coupon_id)
    assert (coupon.sync_state, coupon.woo_coupon_id, coupon.synced_at, coupon.sync_error) == (
        SyncState.SYNCED, "1001", T0, None)
    sent = woo.last
    assert (sent.method, sent.path) == ("POST", "/wp-json/wc/v3/coupons")
    assert sent.headers["Authorization"] == "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
    assert sent.json == {
        "code": "RTF-SAVE10", "discount_type": "percent", "amount": "10", "date_expires_gmt": "2026-03-04T09:00:00",
        "usage_limit": 1, "email_restrictions": ["alice@example.com"], "minimum_amount": "50",
        "individual_use": True, "description": "Retainful recovery coupon",
    }
    assert run(app, sync_due_coupons) == {}  # nothing left to do


def test_fixed_and_free_shipping_coupons_map_to_woocommerce_types():
    common = dict(code="C", kind="next_order", currency="USD", usage_limit=1, expires_at=T0)
    fixed = coupon_body(Coupon(discount_type="fixed", amount=Decimal("5.5000"), **common))
    assert (fixed["discount_type"], fixed["amount"], fixed["description"]) == (
        "fixed_cart", "5.5", "Retainful next-order coupon")
    free = coupon_body(Coupon(discount_type="free_shipping", amount=Decimal(0), **common))
    assert (free["discount_type"], free["amount"], free["free_shipping"]) == ("fixed_cart", "0", True)
    assert "email_restrictions" not in free and "minimum_amount" not in free


def test_a_5xx_is_retried_after_the_backoff(app, shop, woo):
    coupon_id = add_coupon(app, shop.store_id)
    woo.queue.append((500, {}, woo_error("internal_server_error", "Database went away.", 500)))
    assert run(app, sync_due_coupons) == {"retry": 1}
    coupon = coupon_row(app, coupon_id)
    assert (coupon.sync_state, coupon.sync_attempts, coupon.sync_due_at) == (
        SyncState.PENDING, 1, T0 + timedelta(minutes=1))
    assert coupon.sync_error == "HTTP 500 internal_server_error"  # the status, not the shop's words
    assert run(app, sync_due_coupons) == {} and len(woo.requests) == 1  # not due yet
    clock.advance(timedelta(minutes=1))
    assert run(app, sync_due_coupons) == {"synced": 1}
    assert coupon_row(app, coupon_id).woo_coupon_id == "1001"


def test_bad_credentials_fail_at_once_with_woocommerces_error_code(app, shop, woo):
    coupon_id = add_coupon(app, shop.store_id)
    woo.credentials = (KEY, "cs_rotated")
    assert run(app, sync_due_coupons) == {"failed": 1}
    coupon = coupon_row(app, coupon_id)
    assert (coupon.sync_state, coupon.sync_error) == (SyncState.FAILED, "HTTP 401 woocommerce_rest_authentication_error")
    clock.advance(timedelta(hours=2))
    assert run(app, sync_due_coupons) == {} and len(woo.requests) == 1


def test_code_already_exists_counts_as_synced(app, shop, woo):
    """The first attempt got through but its answer was lost: the coupon is in the shop."""
    coupon_id = add_coupon(app, shop.store_id)
    woo.queue.append((400, {}, woo_error("woocommerce_rest_coupon_code_already_exists",
                                         "The coupon code already exists", 400)))
    assert run(app, sync_due_coupons) == {"synced": 1}
    assert coupon_row(app, coupon_id).sync_state == SyncState.SYNCED


def test_an_unreachable_shop_backs_off_then_fails(app, shop, woo):
    coupon_id = add_coupon(app, shop.store_id)
    woo.close()
    delays = []
    for _ in range(8):
        assert sum(run(app, sync_due_coupons).values()) == 1
        coupon = coupon_row(app, coupon_id)
        delays.append(coupon.sync_due_at - clock.now())
        clock.advance(timedelta(hours=1))
    assert delays[:7] == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60)]
    assert coupon.sync_state == SyncState.FAILED and coupon.sync_attempts == 8
    assert coupon.sync_error == "gave up after 8 attempts: connection refused"


def test_coupons_of_unconnected_stores_are_left_alone(app, shop):
    coupon_id = add_coupon(app, shop.store_id)
    assert run(app, sync_due_coupons) == {}
    assert coupon_row(app, coupon_id).sync_state == SyncState.PENDING


# --- order pull ---------------------------------------------------------------------------------------------------

def _stored_store(app, store_id) -> Store:
    with app.app_context():
        store = db.session.get(Store, store_id)
        db.session.expunge(store)
        return store


def test_the_pull_records_missed_orders_across_pages(app, shop, woo, monkeypatch):
    monkeypatch.setattr(woocommerce, "PAGE_SIZE", 2)
    shop.put_cart("missed", cart_body())
    woo.orders = [woo_order_payload(id=801, cart_token=None, billing={"email": "bob@example.com"}),
                  woo_order_payload(id=802, cart_token="missed"),
                  {"id": 803, "date_modified_gmt": "2026-03-02T08:58:00"},  # no total: skipped, not fatal
                  woo_order_payload(id=804, cart_token=None, status="completed")]
    assert run(app, pull_all_orders) == {"stores": 1, "recorded": 3, "failed": 0, "unfinished": 0}
    assert sorted(o.external_id for o in orders_in(app)) == ["801", "802", "804"]
    assert shop.get_cart("missed").get_json()["status"] == "converted"
    pages = [params_of(r) for r in woo.requests]
    assert [(p["page"], p["per_page"]) for p in pages] == [("1", "2"), ("2", "2")]
    assert pages[0]["modified_after"] == "2026-03-01T09:00:00" and pages[0]["dates_are_gmt"] == "true"
    assert (pages[0]["orderby"], pages[0]["order"]) == ("modified", "asc")
    assert _stored_store(app, shop.store_id).woo_orders_pulled_at == T0

    clock.advance(timedelta(minutes=10))
    woo.clear()
    assert run(app, lambda: pull_orders(db.session.get(Store, shop.store_id))) == (0, True, None)
    assert params_of(woo.requests[0])["modified_after"] == "2026-03-02T08:55:00"  # last pull minus the overlap
    assert len(orders_in(app)) == 3
    assert _stored_store(app, shop.store_id).woo_orders_pulled_at == T0 + timedelta(minutes=10)


def test_a_pull_applies_status_changes(app, shop, woo):
    deliver(shop, woo_order_payload())
    woo.orders = [woo_order_payload(status="cancelled", date_modified_gmt="2026-03-02T08:59:00")]
    assert run(app, pull_all_orders)["recorded"] == 0
    assert shop.client.get("/api/v1/orders/727", headers=shop.headers).get_json()["status"] == "cancelled"


def test_a_failing_shop_keeps_its_pull_time(app, shop, woo):
    woo.queue.append((503, {}, "<html>Maintenance</html>"))
    assert run(app, pull_all_orders) == {"stores": 1, "recorded": 0, "failed": 1, "unfinished": 0}
    assert _stored_store(app, shop.store_id).woo_orders_pulled_at is None
    woo.credentials = (KEY, "other")
    assert run(app, pull_all_orders)["failed"] == 1


class EndlessShop(WooStub):
    """The audit's hostile shop (F4): ``X-WP-TotalPages: 1000000000``, and an order on every page it is asked for."""

    def _orders_page(self, params):
        page = int(params.get("page", 1))
        order = woo_order_payload(id=5000 + page, cart_token=None, date_modified_gmt="2026-03-02T08:00:00")
        return 200, {"X-WP-TotalPages": "1000000000"}, wc_json([order])


def connect_stub(app, store_id, stub):
    with app.app_context():
        store = db.session.get(Store, store_id)
        store.woo_url, store.woo_consumer_key, store.woo_consumer_secret = stub.base_url, KEY, SECRET
        db.session.commit()


def test_the_page_cap_stops_an_endless_shop_and_the_next_run_resumes_from_the_cursor(app, shop, woo, monkeypatch):
    """Before: the pull kept paging until the process was killed (426 requests in 20 s)."""
    app.config["WOO_PULL_MAX_PAGES"] = 3
    with EndlessShop() as endless:
        connect_stub(app, shop.store_id, endless)
        assert run(app, pull_all_orders) == {"stores": 1, "recorded": 3, "failed": 0, "unfinished": 1}
        assert [params_of(r)["page"] for r in endless.requests] == ["1", "2", "3"]
        store = _stored_store(app, shop.store_id)
        assert (store.woo_pull_cursor_after, store.woo_pull_cursor_page, store.woo_orders_pulled_at) == (
            T0 - timedelta(hours=24), 3, None)
        clock.advance(timedelta(minutes=5))
        endless.clear()
        assert run(app, pull_all_orders)["recorded"] == 2
        # the same window, from its last page: orders modified meanwhile move to the end and shift the rest back
        assert [(params_of(r)["page"], params_of(r)["modified_after"]) for r in endless.requests] == [
            ("3", "2026-03-01T09:00:00"), ("4", "2026-03-01T09:00:00"), ("5", "2026-03-01T09:00:00")]
        assert _stored_store(app, shop.store_id).woo_pull_cursor_page == 5


def test_an_empty_page_ends_the_window_whatever_the_page_count_claims(app, shop, woo):
    woo.queue.append((200, {"X-WP-TotalPages": "1000000000"}, b"[]"))
    assert run(app, pull_all_orders) == {"stores": 1, "recorded": 0, "failed": 0, "unfinished": 0}
    assert len(woo.requests) == 1 and _stored_store(app, shop.store_id).woo_orders_pulled_at == T0


def test_a_failure_mid_window_keeps_the_pages_read(app, shop, woo, monkeypatch):
    monkeypatch.setattr(woocommerce, "PAGE_SIZE", 1)
    woo.orders = [woo_order_payload(id=901, cart_token=None, date_modified_gmt="2026-03-02T08:00:00"),
                  woo_order_payload(id=902, cart_token=None, date_modified_gmt="2026-03-02T08:01:00")]
    woo.queue.extend([(200, {"X-WP-TotalPages": "2"}, wc_json(woo.orders[:1])),
                      (503, {}, "<html>INTERNAL-ONLY: db_password=hunter2</html>")])
    assert run(app, pull_all_orders) == {"stores": 1, "recorded": 1, "failed": 1, "unfinished": 0}
    store = _stored_store(app, shop.store_id)
    assert (store.woo_pull_cursor_page, store.woo_orders_pulled_at) == (2, None)
    woo.clear()
    assert run(app, pull_all_orders) == {"stores": 1, "recorded": 1, "failed": 0, "unfinished": 0}
    assert [params_of(r)["page"] for r in woo.requests] == ["2"]
    store = _stored_store(app, shop.store_id)
    assert (store.woo_pull_cursor_after, store.woo_pull_cursor_page, store.woo_orders_pulled_at) == (None, None, T0)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_trickling_shop_does_not_hold_up_another_stores_pull(app, shop, woo, make_store, concurrency, caplog,
                                                               monkeypatch):
    """The hostile store is pulled first (lower id) or beside the healthy one: either way the run ends within its time
    budget and the healthy store's order is recorded in that run. The log says "timed out", nothing of the reply."""
    app.config.update(WOO_PULL_SECONDS_PER_STORE=1.0, WOO_PULL_CONCURRENCY=concurrency)
    healthy = make_store(name="Healthy", domain="healthy.example")
    woo.orders = [woo_order_payload(id=777, cart_token=None)]
    with TricklingShop() as hostile:
        connect_stub(app, shop.store_id, hostile)
        connect_stub(app, healthy.store_id, woo)
        began = time.monotonic()
        assert run(app, pull_all_orders) == {"stores": 2, "recorded": 1, "failed": 1, "unfinished": 0}
        assert time.monotonic() - began < 4  # the 1 s budget and the healthy pull (slack for a loaded machine)
    assert [o.store_id for o in orders_in(app)] == [healthy.store_id]
    assert _stored_store(app, healthy.store_id).woo_orders_pulled_at == T0
    assert f"store {shop.store_id}: WooCommerce order pull failed: timed out" in caplog.text


def test_stores_whose_pull_keeps_failing_go_to_the_back_of_the_queue(app, shop, woo, make_store):
    """With one slot, the store pulled most recently goes first, so a shop that never finishes is not always first."""
    app.config["WOO_PULL_CONCURRENCY"] = 1
    healthy = make_store(name="Healthy", domain="healthy.example")
    with TricklingShop() as hostile, app.app_context():
        app.config["WOO_PULL_SECONDS_PER_STORE"] = 1.0
        connect_stub(app, shop.store_id, hostile)
        connect_stub(app, healthy.store_id, woo)
        assert woocommerce._connected_store_ids() == [shop.store_id, healthy.store_id]  # neither pulled yet: by id
        assert pull_all_orders()["failed"] == 1
        assert woocommerce._connected_store_ids() == [healthy.store_id, shop.store_id]


def test_a_skipped_order_is_logged_without_the_shops_text(app, shop, woo, caplog, monkeypatch):
    woo.orders = [{"id": "INTERNAL-" + "x" * 5000, "date_modified_gmt": "2026-03-02T08:58:00", "total": "hunter2"}]
    assert run(app, pull_all_orders)["recorded"] == 0
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert skipped == [f"store {shop.store_id}: order INTERNAL-{'x' * 55} skipped: id: At most 64 characters."]
