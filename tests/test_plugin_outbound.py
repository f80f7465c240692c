"""What this service sends to a shop running the Retainful plugin: coupons through the plugin's coupon endpoint, and
the history import through its orders endpoint, against a stub shop that checks the digests the plugin's way (and
digest vectors made by PHP), with hostile replies."""
from __future__ import annotations

import json
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from retainful import clock
from retainful.coupons import plugin_coupons
from retainful.coupons.woo_sync import PluginCoupons, WooRestCoupons, backend_for, sync_due_coupons
from retainful.extensions import db
from retainful.models import Cart, Coupon, CouponKind, Order, Store, SyncState
from retainful.plugin import crypto, history
from retainful.reports import before_after
from tests.conftest import T0, cart_body
from tests.plugin_vectors import APP_ID, DATA, SECRETS, VECTORS, envelope, run_php
from tests.test_woocommerce import add_coupon, coupon_row, run
from tests.woo_stub import RetainfulPluginStub, TricklingShop, params_of, wc_json

SECRET = SECRETS["store"]
DIGEST_CASES = DATA / "retainful_digest_cases.json"
DIGEST_VECTORS_FILE = DATA / "retainful_digest_vectors.json"
DIGEST_VECTORS = json.loads(DIGEST_VECTORS_FILE.read_text())
DIGEST_SCRIPT = Path(__file__).parent / "php" / "retainful_digests.php"
ORDER = json.loads(envelope("order")["plaintext"])


def store_row(app, store_id) -> Store:
    with app.app_context():
        store = db.session.get(Store, store_id)
        db.session.expunge(store)
        return store


def connect(app, store_id, domain) -> None:
    with app.app_context():
        store = db.session.get(Store, store_id)
        store.retainful_app_id, store.retainful_secret_key = APP_ID, SECRET
        store.retainful_shop, store.retainful_connected_at = {"domain": domain}, clock.now()
        store.retainful_history_due_at = clock.now()
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


@pytest.mark.parametrize("vector", DIGEST_VECTORS["orders"], ids=lambda v: str(v["since_id"]))
def test_the_orders_digest_is_the_plugins(vector):
    assert history.orders_digest(SECRET, vector["limit"], vector["since_id"]) == vector["digest"]


# --- coupons through the plugin ----------------------------------------------------------------------------------

def test_a_coupon_is_created_through_the_plugin_with_a_negative_value(app, shop, plugin):
    coupon_id = add_coupon(app, shop.store_id, email="alice@example.com", minimum_total=Decimal("50.00"))
    assert run(app, sync_due_coupons) == {"synced": 1}
    coupon = coupon_row(app, coupon_id)
    assert (coupon.sync_state, coupon.woo_coupon_id, coupon.sync_error) == (SyncState.SYNCED, "2001", None)
    sent = plugin.last
    assert (sent.method, sent.path) == ("POST", "/wp-json/retainful-api/v1/coupon")
    assert "Authorization" not in sent.headers  # the digest authenticates, not WooCommerce keys
    assert sent.json["discount_rule"] == {
        "coupon_code": "RTF-SAVE10", "value_type": "percentage", "value": -10, "target_type": "line_item",
        "usage_limit": 1, "usage_limit_per_user": 1, "customer_email": "alice@example.com",
        "ends_at": "2026-03-04T09:00:00+00:00", "prerequisite_subtotal_range": {"greater_than_or_equal_to": 50}}
    assert plugin.coupons["RTF-SAVE10"] == {
        "id": 2001, "code": "RTF-SAVE10", "discount_type": "percent", "free_shipping": "no", "coupon_amount": 10,
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


# --- history import ----------------------------------------------------------------------------------------------

def past_order(order_id: int, days_ago: float, total="36.95", status="processing", token=..., **overrides) -> dict:
    """An item of the plugin's ``GET /orders`` (``Order::getOrderData``), placed ``days_ago`` before T0."""
    placed = (T0 - timedelta(days=days_ago)).isoformat()
    token = f"{order_id:032x}" if token is ... else token
    return {**ORDER, "r_order_id": order_id, "order_number": order_id, "id": token, "token": token,
            "cart_token": token, "order_status": status, "completed_at": placed, "created_at": placed,
            "total_price": float(total), "presentment_currency": "USD", "currency": "USD",
            "total_price_set": {"shop_money": {"amount": 1, "currency_code": "USD"},
                                "presentment_money": {"amount": 1, "currency_code": "USD"}}, **overrides}


def orders_of(app, store_id) -> list[Order]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(Order).where(Order.store_id == store_id).order_by(Order.id)))
        db.session.expunge_all()
        return rows


def test_connect_triggers_the_import_and_orders_count_as_history_only(app, client, shop):
    """After the plugin's connect call the job imports the shop's past orders: placed ones only, with no cart (a
    cart with the same token stays open), customer or attribution; the before/after report then has its history."""
    app.config["ALLOW_PRIVATE_SHOP_URLS"] = True
    token = "b" * 32
    assert shop.put_cart(token, cart_body()).status_code == 201
    items = [past_order(10 + n, days_ago=60 - n) for n in range(25)]
    items += [past_order(40, 40, token=token), past_order(41, 39, token=None),  # no token: a new one every fetch
              past_order(42, 38, status="pending", completed_at=None),  # how a cancelled order arrives
              past_order(43, 37, status="failed"), past_order(44, 36, status="refunded")]
    with RetainfulPluginStub(SECRET, orders=items) as stub:
        with app.app_context():
            store = db.session.get(Store, shop.store_id)
            store.retainful_app_id, store.retainful_secret_key = APP_ID, SECRET
            store.recovery_started_at = T0 - timedelta(days=30)
            db.session.commit()
        assert run(app, history.import_due_history)["stores"] == 0  # not connected yet
        response = client.post(f"/retainful/v1/app/{APP_ID}", json={"shop": {
            "secret_key": VECTORS["connect_secret_key"], "domain": stub.base_url, "name": "Acme Mugs"}})
        assert response.status_code == 200
        assert run(app, history.import_due_history) == {"stores": 1, "imported": 27, "failed": 0, "unfinished": 0}
        sent = stub.requests[0]
        assert (sent.method, sent.path) == ("GET", "/wp-json/retainful-api/v1/orders")
    orders = orders_of(app, shop.store_id)
    assert sorted(o.external_id for o in orders) == sorted(str(i) for i in [*range(10, 35), 40, 41])
    assert {(o.cart_id, o.customer_id, o.attributed_message_id) for o in orders} == {(None, None, None)}
    first = next(o for o in orders if o.external_id == "10")
    assert (first.total, first.currency, first.placed_at) == (Decimal("36.95"), "USD", T0 - timedelta(days=60))
    assert shop.get_cart(token).get_json()["status"] == "live"  # not closed by a history order
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Cart.id))) == 1  # none made for the random tokens
        assert db.session.scalar(sa.select(sa.func.count(Coupon.id))) == 0  # no next-order coupons for history
        report = before_after(db.session.get(Store, shop.store_id), days=30)
    assert report["enough_history"] is True and report["before"]["orders"] == 27
    store = store_row(app, shop.store_id)
    assert (store.retainful_history_since_id, store.retainful_history_due_at) == (44, T0 + timedelta(days=1))


def test_a_bounded_run_resumes_from_the_cursor_then_daily(app, shop, plugin, monkeypatch):
    monkeypatch.setattr(history, "PAGE_SIZE", 2)
    app.config["WOO_PULL_MAX_PAGES"] = 2
    plugin.orders = [past_order(100 + n, days_ago=50 - n) for n in range(7)]
    assert run(app, history.import_due_history) == {"stores": 1, "imported": 4, "failed": 0, "unfinished": 1}
    assert store_row(app, shop.store_id).retainful_history_since_id == 103
    assert run(app, history.import_due_history)["imported"] == 3  # due again at once: it resumes after 103
    assert [params["since_id"] for params in map(params_of, plugin.requests)] == ["0", "101", "103", "105"]
    assert store_row(app, shop.store_id).retainful_history_due_at == T0 + timedelta(days=1)
    plugin.orders.append(past_order(107, days_ago=1))
    assert run(app, history.import_due_history)["stores"] == 0  # done for today
    clock.advance(timedelta(days=1))
    assert run(app, history.import_due_history)["imported"] == 1
    assert len(orders_of(app, shop.store_id)) == 8


def test_an_order_the_webhook_recorded_is_left_as_it_is(app, shop, plugin):
    assert shop.post_order({"order_id": "10", "total": "99.00", "currency": "USD", "status": "completed"}
                           ).status_code in (200, 201)
    plugin.orders = [past_order(10, days_ago=5, total="1.00"), past_order(11, days_ago=4)]
    assert run(app, history.import_due_history)["imported"] == 1
    assert {o.external_id: o.total for o in orders_of(app, shop.store_id)} == {"10": Decimal("99.00"),
                                                                              "11": Decimal("36.95")}


def test_poison_items_are_skipped_and_the_rest_imported(app, shop, plugin):
    plugin.orders = [past_order(1, 9, total="-5"), past_order(2, 8, customer_locale="fr\x00"),
                     past_order(3, 7, presentment_currency="X"), past_order(4, 6, completed_at="yesterday"),
                     past_order(5, 5)]
    assert run(app, history.import_due_history)["imported"] == 1
    assert [o.external_id for o in orders_of(app, shop.store_id)] == ["5"]
    assert store_row(app, shop.store_id).retainful_history_since_id == 5


@pytest.mark.parametrize("answer, error", [
    ("wrong_secret", "GET orders after 0: HTTP 400"),
    ((200, {}, b"<html>maintenance</html>"), "GET orders after 0: HTTP 200"),
    ((200, {}, wc_json({"success": True, "items": {"1": {}}})), "GET orders after 0: not a page of at most 50 orders"),
    ((200, {}, wc_json({"success": True, "items": [{}] * 51})), "GET orders after 0: not a page of at most 50 orders"),
    ((200, {}, b"[" + b" " * (8 * 1024 * 1024) + b"]"), "reply too large"),
    ((301, {"Location": "http://169.254.169.254/"}, b""), "GET orders after 0: HTTP 301"),
])
def test_hostile_replies_import_nothing_and_retry_in_an_hour(app, shop, plugin, answer, error, caplog):
    plugin.orders = [past_order(1, 9)]
    if answer == "wrong_secret":
        plugin.secret = SECRETS["short"]
    else:
        plugin.queue.append(answer)
    assert run(app, history.import_due_history) == {"stores": 1, "imported": 0, "failed": 1, "unfinished": 0}
    assert orders_of(app, shop.store_id) == []
    store = store_row(app, shop.store_id)
    assert (store.retainful_history_since_id, store.retainful_history_due_at) == (0, T0 + timedelta(hours=1))
    assert error in caplog.text and "maintenance" not in caplog.text


def test_a_trickling_shop_is_cut_off_at_the_time_budget(app, shop, plugin):
    app.config["WOO_PULL_SECONDS_PER_STORE"] = 1
    with TricklingShop() as slow:
        connect(app, shop.store_id, slow.base_url)
        started = time.monotonic()
        assert run(app, history.import_due_history)["failed"] == 1
        assert time.monotonic() - started < 5
    assert store_row(app, shop.store_id).retainful_history_due_at == T0 + timedelta(hours=1)


def test_a_private_shop_address_is_refused(app, shop, plugin, shop_dns, caplog):
    app.config["ALLOW_PRIVATE_SHOP_URLS"] = False
    shop_dns["acme.example"] = ["127.0.0.1"]
    connect(app, shop.store_id, "https://acme.example")
    assert run(app, history.import_due_history)["failed"] == 1
    assert "refused: private address" in caplog.text and plugin.requests == []
