"""The shops' connections tell the truth: Test connection for WooCommerce and the Retainful plugin against local fake
shops, the last real result and the last failure's reason recorded by the tests, the coupon sync, the order pull, the
history import and the plugin's connect call, and the settings page's badges and Test buttons with hostile input."""
from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest

from retainful import clock, connections
from retainful.coupons.woo_sync import sync_due_coupons
from retainful.extensions import db
from retainful.models import Role, Store
from retainful.orders import woocommerce
from retainful.orders.woocommerce import pull_orders
from retainful.plugin import crypto, history
from retainful.stores import options
from tests.plugin_vectors import APP_ID, SECRETS, VECTORS
from tests.test_admin import add_user, csrf_token, logged_in, post, text
from tests.test_plugin_outbound import connect as connect_plugin
from tests.test_woocommerce import KEY, SECRET, add_coupon, run, woo  # noqa: F401 (woo: a fixture)
from tests.woo_stub import RetainfulPluginStub, TricklingShop, WooStub, woo_error

PLUGIN_SECRET = SECRETS["store"]


def store_row(app, store_id) -> Store:
    with app.app_context():
        store = db.session.get(Store, store_id)
        db.session.expunge(store)
        return store


def health(app, store_id, connection=connections.WOOCOMMERCE) -> connections.Health:
    with app.app_context():
        return connections.health(db.session.get(Store, store_id), connection)


def set_woo(app, store_id, url, key=KEY, secret=SECRET) -> None:
    """Keys written as they are (the save-time URL check is egress's, tested elsewhere)."""
    with app.app_context():
        store = db.session.get(Store, store_id)
        store.woo_url, store.woo_consumer_key, store.woo_consumer_secret = url, key, secret
        db.session.commit()


def check_woo(app, store_id) -> str | None:
    with app.app_context():
        return woocommerce.check_connection(db.session.get(Store, store_id))


def check_plugin(app, store_id) -> str | None:
    with app.app_context():
        return history.check_connection(db.session.get(Store, store_id))


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as server:
        return server.getsockname()[1]


# --- WooCommerce: the Test ------------------------------------------------------------------------------------------

def test_woocommerce_test_calls_the_shop_with_the_keys_and_records_what_happened(app, shop, woo):
    assert health(app, shop.store_id).state == "unchecked"  # keys saved, never tried: not "connected"
    assert check_woo(app, shop.store_id) is None
    asked = woo.requests[-1]
    assert (asked.method, asked.path) == ("GET", "/wp-json/wc/v3/orders") and "per_page=1" in asked.query
    ok = health(app, shop.store_id)
    assert ok.state == "ok" and ok.checked_at == clock.now() and ok.failure is None

    set_woo(app, shop.store_id, woo.base_url, secret="cs_wrong")
    failure = check_woo(app, shop.store_id)
    assert failure == ("HTTP 401: the shop refused the keys (check the consumer key and secret, with read/write "
                       "access)")
    failing = health(app, shop.store_id)
    assert (failing.state, failing.failure, failing.failed_at) == ("failing", failure, clock.now())

    set_woo(app, shop.store_id, woo.base_url)
    woo.queue.append((404, {}, woo_error("rest_no_route", "No route was found", 404)))
    assert check_woo(app, shop.store_id).startswith("HTTP 404: not WooCommerce")
    woo.queue.append((200, {"Content-Type": "text/html"}, b"<html>a blog</html>"))
    assert "not as WooCommerce's REST API does" in check_woo(app, shop.store_id)
    woo.queue.append((301, {"Location": "https://www.acme.example/"}, b""))
    assert "a redirect, not followed" in check_woo(app, shop.store_id)
    woo.queue.append((503, {}, b"busy"))
    assert check_woo(app, shop.store_id) == "HTTP 503: the shop's server failed"

    clock.advance(timedelta(minutes=1))
    assert check_woo(app, shop.store_id) is None
    recovered = health(app, shop.store_id)
    # Working again, and the last failure is still there to read, with its own time.
    assert recovered.state == "ok" and recovered.failure == "HTTP 503: the shop's server failed"
    assert recovered.failed_at < recovered.checked_at


def test_woocommerce_test_names_network_failures_in_words(app, shop, shop_dns, monkeypatch):
    app.config["ALLOW_PRIVATE_SHOP_URLS"] = True
    reasons = {}
    for name, url in (("dns", "https://no-such-shop.invalid"), ("refused", f"http://127.0.0.1:{closed_port()}")):
        set_woo(app, shop.store_id, url)
        reasons[name] = check_woo(app, shop.store_id)
    with WooStub() as plain_http:  # https to a server that speaks plain HTTP
        set_woo(app, shop.store_id, plain_http.base_url.replace("http://", "https://"))
        reasons["tls"] = check_woo(app, shop.store_id)
    monkeypatch.setattr(connections, "CHECK_SECONDS", 0.5)
    with TricklingShop() as slow:
        set_woo(app, shop.store_id, slow.base_url)
        reasons["timeout"] = check_woo(app, shop.store_id)
    app.config["ALLOW_PRIVATE_SHOP_URLS"] = False
    set_woo(app, shop.store_id, "https://127.0.0.1:8443")
    reasons["private"] = check_woo(app, shop.store_id)
    assert reasons == {
        "dns": "DNS: the shop's host name does not resolve",
        "refused": "the shop's server refused the connection",
        "tls": "TLS: the secure connection to the shop failed",
        "timeout": "timed out: no answer from the shop in time",
        "private": "refused: the shop's address is private, loopback or reserved (only public shops are reached)",
    }
    assert health(app, shop.store_id).failure == reasons["private"]


def test_new_keys_are_unchecked_the_same_keys_keep_their_result_and_disconnecting_forgets(app, shop, woo):
    set_woo(app, shop.store_id, woo.base_url)  # as the settings form saves it: no trailing slash
    assert check_woo(app, shop.store_id) is None
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        options.connect_woocommerce(store, woo.base_url, KEY, None)  # saved again, unchanged
    assert health(app, shop.store_id).state == "ok"
    with app.app_context():
        options.connect_woocommerce(db.session.get(Store, shop.store_id), woo.base_url, "ck_other", None)
    assert health(app, shop.store_id) == connections.Health("unchecked", None, None, None)
    with app.app_context():
        options.disconnect_woocommerce(db.session.get(Store, shop.store_id))
    assert health(app, shop.store_id).state == "off"


# --- WooCommerce: the real traffic ----------------------------------------------------------------------------------

def test_coupon_sync_and_order_pull_record_the_connections_last_result(app, shop, woo):
    set_woo(app, shop.store_id, woo.base_url, secret="cs_revoked")
    add_coupon(app, shop.store_id, code="RTF-ONE")
    run(app, sync_due_coupons)
    assert health(app, shop.store_id).failure.startswith("HTTP 401: the shop refused the keys")
    set_woo(app, shop.store_id, woo.base_url)
    # A coupon the shop refuses for its own data says nothing about the connection.
    woo.queue.append((400, {}, woo_error("woocommerce_rest_invalid_coupon", "Invalid", 400)))
    add_coupon(app, shop.store_id, code="RTF-TWO")
    run(app, sync_due_coupons)
    assert health(app, shop.store_id).state == "failing"
    add_coupon(app, shop.store_id, code="RTF-THREE")
    run(app, sync_due_coupons)
    assert health(app, shop.store_id).state == "ok"

    woo.queue.append((500, {}, b"oops"))
    with app.app_context():
        outcome = pull_orders(db.session.get(Store, shop.store_id))
    assert not outcome.finished
    assert (health(app, shop.store_id).state, health(app, shop.store_id).failure) == (
        "failing", "HTTP 500: the shop's server failed")
    with app.app_context():
        assert pull_orders(db.session.get(Store, shop.store_id)).finished
    assert health(app, shop.store_id).state == "ok"


# --- the Retainful plugin -------------------------------------------------------------------------------------------

def test_plugin_test_checks_the_connect_call_and_a_signed_request_to_the_shops_plugin(app, shop):
    app.config["ALLOW_PRIVATE_SHOP_URLS"] = True
    assert health(app, shop.store_id, connections.PLUGIN).state == "off"
    assert check_plugin(app, shop.store_id).startswith("the plugin has not connected yet")
    assert health(app, shop.store_id, connections.PLUGIN).state == "failing"
    with RetainfulPluginStub(PLUGIN_SECRET) as stub:
        connect_plugin(app, shop.store_id, stub.base_url)
        assert check_plugin(app, shop.store_id) is None
        asked = stub.requests[-1]
        assert asked.path == history.PATH and "limit=1" in asked.query and "digest=" in asked.query
        assert health(app, shop.store_id, connections.PLUGIN).state == "ok"
    with RetainfulPluginStub("another-secret-the-shop-has") as stub:
        connect_plugin(app, shop.store_id, stub.base_url)
        assert check_plugin(app, shop.store_id) == (
            "HTTP 400: the plugin refused our signature: the Secret Key in the shop is not this store's")
    with WooStub() as no_plugin:
        connect_plugin(app, shop.store_id, no_plugin.base_url)
        assert "no Retainful plugin answers" in check_plugin(app, shop.store_id)
        with app.app_context():
            outcome = history.import_history(db.session.get(Store, shop.store_id))
        assert outcome.error and "no Retainful plugin answers" in health(app, shop.store_id, connections.PLUGIN).failure


def test_the_plugins_connect_call_is_the_connections_result_and_a_refused_one_its_failure(app, shop, client):
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        store.retainful_app_id, store.retainful_secret_key = APP_ID, PLUGIN_SECRET
        db.session.commit()
    body = {"secret_key": VECTORS["connect_secret_key"], "domain": "acme.example"}
    wrong = client.post(f"/retainful/v1/app/{APP_ID}", json={"shop": {**body, "secret_key": crypto.seal(
        json.dumps(APP_ID), SECRETS["short"])}})
    assert wrong.status_code == 401
    refused = health(app, shop.store_id, connections.PLUGIN)
    assert refused.state == "failing" and "Secret Key in the shop is not this store's" in refused.failure
    assert client.post(f"/retainful/v1/app/{APP_ID}", json={"shop": body}).status_code == 200
    connected = health(app, shop.store_id, connections.PLUGIN)
    assert connected.state == "ok" and connected.failure == refused.failure  # the earlier failure stays readable
    clock.advance(timedelta(minutes=5))
    forged = client.post(f"/retainful/v1/app/{APP_ID}", json={"shop": {**body, "secret_key": "forged"}})
    assert forged.status_code == 401  # anyone can send this (the app id is public): it must not turn the badge red
    after_forgery = health(app, shop.store_id, connections.PLUGIN)
    assert after_forgery.state == "ok" and after_forgery.failed_at > refused.failed_at  # but the owner can read it
    with app.app_context():
        from retainful.stores import rotate_plugin_secret
        rotate_plugin_secret(db.session.get(Store, shop.store_id))
    assert health(app, shop.store_id, connections.PLUGIN).state == "unchecked"  # the plugin has the old secret


# --- the settings page ----------------------------------------------------------------------------------------------

@pytest.fixture
def owner(app, shop):
    return logged_in(app, add_user(app, "owner@acme.test", Role.OWNER, [shop.store_id]))


def test_settings_badges_show_the_last_real_result_and_test_buttons_run_it(app, shop, woo, owner):
    page = text(owner.get("/admin/settings/"))
    assert 'id="woo-state" data-state="unchecked">not tested yet' in page and ">connected<" not in page
    assert 'id="retainful-state" data-state="off">not connected' in page
    token = csrf_token(owner, "/admin/settings/")
    tested = post(owner, "/admin/settings/woocommerce/test", {}, token)
    assert tested.status_code == 302 and woo.requests[-1].path == "/wp-json/wc/v3/orders"
    page = text(owner.get("/admin/settings/"))
    assert "WooCommerce connection works" in page and 'id="woo-state" data-state="ok">working' in page
    set_woo(app, shop.store_id, woo.base_url, secret="cs_wrong")
    post(owner, "/admin/settings/woocommerce/test", {}, token)
    page = text(owner.get("/admin/settings/"))
    assert 'id="woo-state" data-state="failing">failing' in page
    assert "WooCommerce connection test failed: HTTP 401: the shop refused the keys" in page
    assert 'id="woo-failure">HTTP 401: the shop refused the keys' in page and "cs_wrong" not in page
    plugin = post(owner, "/admin/settings/retainful/test", {}, token)
    assert plugin.status_code == 302
    page = text(owner.get("/admin/settings/"))
    assert 'id="retainful-state" data-state="failing"' in page and "the plugin has not connected yet" in page


def test_the_test_buttons_refuse_what_they_should(app, shop, woo, owner, make_store):
    marketer = logged_in(app, add_user(app, "marketer@acme.test", Role.MARKETER, [shop.store_id]))
    other = make_store(name="Other", domain="other.example")
    other_owner = logged_in(app, add_user(app, "owner@other.test", Role.OWNER, [other.store_id]))
    token = csrf_token(owner, "/admin/settings/")
    for path in ("/admin/settings/woocommerce/test", "/admin/settings/retainful/test"):
        assert post(marketer, path, {}).status_code == 403, path
        assert owner.post(path, data={}).status_code == 400, path  # no CSRF token
        assert owner.post(path, data={"csrf_token": "forged"}).status_code == 400, path
        assert owner.get(path).status_code == 405, path
        assert app.test_client().post(path).status_code in (302, 400), path  # anonymous: never the shop
        # A form rendered for store A, sent after switching: refused, store A untouched.
        assert post(owner, path, {"store_guard": str(other.store_id)}, token).status_code == 409, path
        # Unstorable text is refused naming the field, before anything runs; other junk changes nothing (the Test
        # takes no input but the current store).
        asked = len(woo.requests)
        nul = owner.post(path, data=f"csrf_token={token}&woo_url=%00", content_type="application/x-www-form-urlencoded")
        assert nul.status_code == 400 and "woo_url" in nul.get_json()["error"]["fields"], path
        assert len(woo.requests) == asked
        # Bytes that are not UTF-8 (a lone surrogate's) are decoded with replacement: no error, nothing stored.
        broken = owner.post(path, data=f"csrf_token={token}&woo_url=%ED%A0%80",
                            content_type="application/x-www-form-urlencoded")
        assert broken.status_code == 302, path
        for junk in ("x" * 100_000, "1", "<script>"):
            assert post(owner, path, {"woo_url": junk, "store_id": str(other.store_id)}, token).status_code == 302
        # Another store's owner tests their own store, never this one.
        assert post(other_owner, path, {}).status_code in (302, 400), path
    assert owner.post("/admin/settings/woocommerce/test", data={"csrf_token": token, "junk": "x" * 20_000_000}
                      ).status_code == 413
    assert store_row(app, other.store_id).woo_checked_at is None
    assert all(r.path == "/wp-json/wc/v3/orders" for r in woo.requests)
    assert store_row(app, shop.store_id).woo_consumer_key == KEY
    # Another store's owner without keys gets a clear refusal, not a request to anyone.
    response = post(other_owner, "/admin/settings/woocommerce/test", {})
    assert response.status_code == 400 and "Save the shop address and keys first" in text(response)
