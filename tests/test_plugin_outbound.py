"""What this service sends to a shop running the Retainful plugin: coupons through the plugin's coupon endpoint,
against a stub shop that checks the digest the plugin's way (and digest vectors made by PHP), with hostile replies."""
from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from retainful import clock
from retainful.coupons import plugin_coupons
from retainful.coupons.woo_sync import PluginCoupons, WooRestCoupons, backend_for, sync_due_coupons
from retainful.extensions import db
from retainful.models import Coupon, CouponKind, Store, SyncState
from retainful.plugin import crypto
from tests.conftest import T0
from tests.plugin_vectors import APP_ID, DATA, SECRETS, VECTORS, envelope, run_php
from tests.woo_stub import RetainfulPluginStub, TricklingShop, wc_json

SECRET = SECRETS["store"]
DIGEST_CASES = DATA / "retainful_digest_cases.json"
DIGEST_VECTORS_FILE = DATA / "retainful_digest_vectors.json"
DIGEST_VECTORS = json.loads(DIGEST_VECTORS_FILE.read_text())
DIGEST_SCRIPT = Path(__file__).parent / "php" / "retainful_digests.php"
ORDER = json.loads(envelope("order")["plaintext"])


def run(app, fn, *args):
    with app.app_context():
        try:
            return fn(*args)
        finally:
            db.session.remove()


def connect(app, store_id, domain) -> None:
    with app.app_context():
        store = db.session.get(Store, store_id)
        store.retainful_app_id, store.retainful_secret_key = APP_ID, SECRET
        store.retainful_shop, store.retainful_connected_at = {"domain": domain}, clock.now()
        db.session.commit()


@pytest.fixture
def plugin(app, shop):
    """A stub shop with the plugin, which the ``shop`` store's plugin connected (on 127.0.0.1: the opt-in is on)."""
    app.config["ALLOW_PRIVATE_SHOP_URLS"] = True
    with RetainfulPluginStub(SECRET) as stub:
        connect(app, shop.store_id, stub.base_url)
        yield stub


# --- digests, against vectors made by PHP ------------------------------------------------------------------------

def test_the_stored_digest_vectors_are_what_php_makes():
    assert run_php(DIGEST_SCRIPT.as_posix(), DIGEST_CASES.as_posix()) == DIGEST_VECTORS_FILE.read_text()


@pytest.mark.parametrize("vector", DIGEST_VECTORS["coupons"], ids=lambda v: v["signed"][:60])
def test_the_coupon_digest_is_the_plugins(vector):
    """Amounts go out as php_number makes them, so -10.00 is signed as PHP re-encodes it (-10, not -10.0)."""
    rule = json.loads(vector["body"], parse_float=Decimal)["discount_rule"]
    if isinstance(rule.get("value"), Decimal):
        rule["value"] = plugin_coupons.php_number(rule["value"])
    assert plugin_coupons.digest(rule, SECRET) == vector["digest"]


def test_a_digest_over_python_floats_would_be_refused():
    vector = next(v for v in DIGEST_VECTORS["coupons"] if "-10.0" in v["body"])
    naive = {**json.loads(vector["body"])["discount_rule"]}  # value -10.0 as a Python float
    assert plugin_coupons.digest(naive, SECRET) != vector["digest"]


# --- coupons through the plugin ----------------------------------------------------------------------------------

def add_coupon(app, store_id, code="RT-7KQ4-M2XD", discount_type="percent", amount=Decimal(10), **fields) -> int:
    with app.app_context():
        coupon = Coupon(store_id=store_id, code=code, kind=CouponKind.RECOVERY, discount_type=discount_type,
                        amount=amount, currency="USD", expires_at=T0 + timedelta(hours=48),
                        sync_state=SyncState.PENDING, sync_due_at=clock.now(), **fields)
        db.session.add(coupon)
        db.session.commit()
        return coupon.id


def coupon_row(app, coupon_id) -> Coupon:
    with app.app_context():
        coupon = db.session.get(Coupon, coupon_id)
        db.session.expunge(coupon)
        return coupon


def test_a_coupon_is_created_through_the_plugin_with_a_negative_value(app, shop, plugin):
    coupon_id = add_coupon(app, shop.store_id, email="alice@example.com", minimum_total=Decimal("50.00"))
    assert run(app, sync_due_coupons) == {"synced": 1}
    coupon = coupon_row(app, coupon_id)
    assert (coupon.sync_state, coupon.woo_coupon_id, coupon.sync_error) == (SyncState.SYNCED, "2001", None)
    sent = plugin.last
    assert (sent.method, sent.path) == ("POST", "/wp-json/retainful-api/v1/coupon")
    assert "Authorization" not in sent.headers  # the digest authenticates, not WooCommerce keys
    assert sent.json["discount_rule"] == {
        "coupon_code": "RT-7KQ4-M2XD", "value_type": "percentage", "value": -10, "target_type": "line_item",
        "usage_limit": 1, "usage_limit_per_user": 1, "customer_email": "alice@example.com",
        "ends_at": "2026-03-04T09:00:00+00:00", "prerequisite_subtotal_range": {"greater_than_or_equal_to": 50}}
    assert plugin.coupons["RT-7KQ4-M2XD"] == {
        "id": 2001, "code": "RT-7KQ4-M2XD", "discount_type": "percent", "free_shipping": "no", "coupon_amount": 10,
        "minimum_amount": 50, "usage_limit": 1, "customer_email": "alice@example.com",
        "expiry_date": "2026-03-04T09:00:00+00:00"}
    assert run(app, sync_due_coupons) == {}


def test_fixed_and_free_shipping_coupons_as_the_plugin_stores_them(app, shop, plugin):
    add_coupon(app, shop.store_id, code="RT-A2B3-C4D5", discount_type="fixed", amount=Decimal("12.5000"))
    add_coupon(app, shop.store_id, code="RT-SHIP-FREE", discount_type="free_shipping", amount=Decimal(0))
    assert run(app, sync_due_coupons) == {"synced": 2}
    fixed, free = plugin.coupons["RT-A2B3-C4D5"], plugin.coupons["RT-SHIP-FREE"]
    assert (fixed["discount_type"], fixed["coupon_amount"], fixed["free_shipping"]) == ("fixed_cart", 12.5, "no")
    assert (free["discount_type"], free["coupon_amount"], free["free_shipping"]) == ("percent", 0, "yes")


def test_the_plugin_wins_over_woocommerce_keys_and_keys_alone_still_use_the_rest_api(app, shop, plugin):
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        store.woo_url, store.woo_consumer_key, store.woo_consumer_secret = "https://acme.example", "ck", "cs"
        assert backend_for(store) is PluginCoupons
        store.retainful_connected_at = None
        assert backend_for(store) is WooRestCoupons
        store.woo_url = None
        assert backend_for(store) is None


def test_a_next_order_coupon_of_a_plugin_order_reaches_the_shop(app, client, shop, plugin):
    """End to end: the plugin reports a placed order, the store's rule issues a next-order coupon, the sync job
    creates it through the plugin (a store with no WooCommerce keys)."""
    body = json.dumps({"data": crypto.seal(crypto.php_json(ORDER), SECRET)})
    response = client.post("/retainful/v1/woocommerce/webhooks/checkout", data=body,
                           headers={"Content-Type": "application/json", "App-Id": APP_ID})
    assert response.status_code == 200
    with app.app_context():
        coupon = db.session.scalar(sa.select(Coupon).where(Coupon.kind == CouponKind.NEXT_ORDER))
        assert coupon.sync_state == SyncState.PENDING
        code = coupon.code
    assert run(app, sync_due_coupons) == {"synced": 1}
    assert plugin.coupons[code]["coupon_amount"] == 20 and plugin.coupons[code]["customer_email"] == "zoe@example.com"


def test_a_5xx_is_retried_and_a_repeat_updates_the_same_coupon(app, shop, plugin):
    coupon_id = add_coupon(app, shop.store_id)
    plugin.queue.append((502, {}, b"<html>Bad gateway</html>"))
    assert run(app, sync_due_coupons) == {"retry": 1}
    coupon = coupon_row(app, coupon_id)
    assert (coupon.sync_state, coupon.sync_attempts, coupon.sync_error, coupon.sync_due_at) == (
        SyncState.PENDING, 1, "HTTP 502", T0 + timedelta(minutes=1))
    clock.advance(timedelta(minutes=1))
    assert run(app, sync_due_coupons) == {"synced": 1}
    with app.app_context():  # the answer was lost after the shop made it: sent again, the plugin updates the code
        db.session.get(Coupon, coupon_id).sync_state = SyncState.PENDING
        db.session.commit()
    assert run(app, sync_due_coupons) == {"synced": 1}
    assert len(plugin.coupons) == 1 and coupon_row(app, coupon_id).woo_coupon_id == "2001"


@pytest.mark.parametrize("answer, error", [
    ("wrong_secret", "HTTP 400 SECURITY_BREACH"),
    ((404, {}, wc_json({"code": "rest_no_route", "message": "No route", "data": {"status": 404}})),
     "HTTP 404 rest_no_route"),
    ((400, {}, wc_json({"coupon_code": ["Coupon Code must contain only letters"]})), "HTTP 400"),
    ((200, {}, b"<html>maintenance</html>"), "HTTP 200 without a coupon id"),
    ((200, {}, wc_json({"success": False, "RESPONSE_CODE": "UNABLE_TO_CREATE_OR_UPDATE"})),
     "HTTP 200 without a coupon id"),
    ((302, {"Location": "http://169.254.169.254/"}, b""), "HTTP 302 (a redirect, not followed: check the shop URL)"),
    ((200, {}, b"[" + b" " * (8 * 1024 * 1024) + b"]"), "reply too large"),
])
def test_refusals_and_hostile_replies_fail_with_a_short_status(app, shop, plugin, answer, error):
    coupon_id = add_coupon(app, shop.store_id)
    if answer == "wrong_secret":
        plugin.secret = SECRETS["short"]  # the shop's plugin holds another secret: the digest does not match
    else:
        plugin.queue.append(answer)
    assert run(app, sync_due_coupons) == {"failed": 1}
    coupon = coupon_row(app, coupon_id)
    assert (coupon.sync_state, coupon.sync_error) == (SyncState.FAILED, error)


def test_a_slow_shop_is_cut_off_and_retried(app, shop, plugin, monkeypatch):
    monkeypatch.setattr("retainful.coupons.woo_sync.TIMEOUT_SECONDS", 0.5)
    coupon_id = add_coupon(app, shop.store_id)
    with TricklingShop() as slow:
        connect(app, shop.store_id, slow.base_url)
        assert run(app, sync_due_coupons) == {"retry": 1}
    assert coupon_row(app, coupon_id).sync_error == "timed out"


def test_a_shop_domain_with_a_private_address_is_refused(app, shop, plugin, shop_dns):
    app.config["ALLOW_PRIVATE_SHOP_URLS"] = False
    shop_dns["acme.example"] = ["10.0.0.5"]
    connect(app, shop.store_id, "https://acme.example")
    coupon_id = add_coupon(app, shop.store_id)
    assert run(app, sync_due_coupons) == {"failed": 1}
    assert coupon_row(app, coupon_id).sync_error == "refused: private address"
    assert plugin.requests == []
