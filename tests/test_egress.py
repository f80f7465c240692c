"""The guard on every request to a shop (audit F3): https to public addresses only, checked at save time and again at
request time, pinned to the vetted address, no redirects, one deadline, short statuses instead of reply bodies.

No test connects anywhere but 127.0.0.1: shop hostnames resolve through the ``shop_dns`` table (tests/conftest.py).
"""
from __future__ import annotations

import ipaddress
import socket
import time
from datetime import timedelta
from decimal import Decimal

import pytest

from retainful import clock, egress
from retainful.coupons.woo_sync import sync_due_coupons
from retainful.extensions import db
from retainful.models import Coupon, Store, SyncState
from retainful.stores import StoreSettingsError, options
from tests.stubs import make_tls_cert
from tests.test_woocommerce import add_coupon
from tests.woo_stub import TricklingShop, WooStub

REAL_RESOLVE = egress.resolve  # before the shop_dns fixture replaces it
PRIVATE = ["10.0.0.5", "169.254.169.254", "::1", "fd00::1"]


class NoConnections:
    """egress' socket module for a test that must refuse before connecting: any connection attempt fails it."""

    def __getattr__(self, name):
        return getattr(socket, name)

    @staticmethod
    def create_connection(address, *args, **kwargs):
        raise AssertionError(f"connected to {address}")


def call(app, base_url, path="/wp-json/wc/v3/orders", **kwargs):
    with app.app_context():
        return egress.request("GET", base_url, path, auth=("ck", "cs"), **kwargs)


def refusal(app, base_url, **kwargs) -> egress.ShopError:
    with pytest.raises(egress.ShopError) as caught:
        call(app, base_url, **kwargs)
    return caught.value


def connect(app, store_id, url):
    with app.app_context():
        store = db.session.get(Store, store_id)
        options.connect_woocommerce(store, url, "ck", "cs")
        return store.woo_url


def sync(app, coupon_id) -> tuple[str, str | None]:
    with app.app_context():
        sync_due_coupons()
        coupon = db.session.get(Coupon, coupon_id)
        return coupon.sync_state, coupon.sync_error


# --- which addresses are public -----------------------------------------------------------------------------------

@pytest.mark.parametrize("address", [
    "10.0.0.5", "172.16.0.1", "192.168.1.1", "127.0.0.1", "169.254.169.254", "0.0.0.0", "0.1.2.3", "100.64.0.1",
    "192.0.0.1", "198.18.0.1", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
    "::", "::1", "fd00::1", "fe80::1", "fec0::1", "ff02::1", "ff0e::1", "::ffff:10.0.0.5", "::ffff:127.0.0.1",
    "::127.0.0.1", "2002:a00:5::1", "2002:7f00:1::1", "2001:0:4136:e378:8000:63bf:f5ff:fffa", "64:ff9b::a00:5",
    "64:ff9b::7f00:1", "64:ff9b:1::1", "2001:db8::1", "100::1",
])
def test_private_loopback_link_local_multicast_and_reserved_addresses_are_not_public(address):
    assert not egress.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808",
                                     "2002:808:808::1"])
def test_globally_routable_addresses_are_public(address):
    assert egress.is_public(ipaddress.ip_address(address))


def test_resolve_reads_every_address_once_without_scope_and_nothing_for_an_unknown_host(monkeypatch):
    answers = [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fe80::1%eth0", 443, 0, 2)),
               (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443)),
               (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: answers)
    assert REAL_RESOLVE("shop.example", 443) == [ipaddress.ip_address("fe80::1"),
                                                 ipaddress.ip_address("93.184.215.14")]

    def unknown(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unknown)
    assert REAL_RESOLVE("nowhere.example", 443) == []


# --- at save time -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("address", PRIVATE)
def test_a_public_looking_host_with_a_private_address_is_refused_at_save_time(app, shop, shop_dns, address):
    shop_dns["shop.example"] = [address]
    with pytest.raises(StoreSettingsError, match="^woo_url: refused: the host has a private"):
        connect(app, shop.store_id, "https://shop.example")


@pytest.mark.parametrize("url, message", [
    ("http://shop.example", "must use https"), ("ftp://shop.example", "the shop's address"),
    ("https://ck:cs@shop.example", "the shop's address"), ("https://shop.example:99999", "the shop's address"),
    ("https://shop.example/?a=1", "the shop's address"), ("https://shop.example/\x00", "control characters"),
    ("https://shop.example/a b", "control characters"), ("https://sh\udc00op.example", "control characters"),
    ("https://" + "a" * 500 + ".example", "at most 500 characters"), ("https://nowhere.invalid", "does not resolve"),
])
def test_unusable_shop_urls_are_refused_naming_woo_url(app, shop, url, message):
    with pytest.raises(StoreSettingsError, match=f"^woo_url: .*{message}"):
        connect(app, shop.store_id, url)


def test_a_public_https_shop_is_saved_without_a_connection(app, shop, monkeypatch):
    monkeypatch.setattr(egress, "socket", NoConnections())
    assert connect(app, shop.store_id, "https://shop.acme.example/wordpress/") == "https://shop.acme.example/wordpress"


def test_the_opt_in_accepts_http_and_private_addresses(app, shop):
    app.config["ALLOW_PRIVATE_SHOP_URLS"] = True
    assert connect(app, shop.store_id, "http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert connect(app, shop.store_id, "https://10.0.0.5:8443") == "https://10.0.0.5:8443"


# --- at request time ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("addresses", [[a] for a in PRIVATE] + [["93.184.215.14", "10.0.0.5"]])
def test_a_private_address_is_refused_before_any_connection(app, shop_dns, monkeypatch, addresses):
    shop_dns["shop.example"] = addresses
    monkeypatch.setattr(egress, "socket", NoConnections())
    error = refusal(app, "https://shop.example")
    assert (error.status, error.transient) == ("refused: private address", False)


def test_dns_rebinding_after_the_save_is_refused_at_request_time(app, shop, shop_dns, monkeypatch):
    """The first answer (at save time) is public, the next one private: the request never reaches it."""
    answers = iter([[ipaddress.ip_address("93.184.215.14")], [ipaddress.ip_address("169.254.169.254")]])
    monkeypatch.setattr(egress, "resolve", lambda host, port: next(answers))
    monkeypatch.setattr(egress, "socket", NoConnections())
    connect(app, shop.store_id, "https://rebind.example")
    coupon_id = add_coupon(app, shop.store_id)
    assert sync(app, coupon_id) == (SyncState.FAILED, "refused: private address")


def test_without_the_opt_in_the_local_stub_is_refused_and_never_called(app, shop):
    with WooStub() as stub:
        assert refusal(app, stub.base_url).status == "refused: not a valid https shop URL"
        assert refusal(app, f"https://{stub.host_port}").status == "refused: private address"
        with app.app_context():
            db.session.get(Store, shop.store_id).woo_url = stub.base_url  # saved before the guard existed
            db.session.get(Store, shop.store_id).woo_consumer_key = "ck"
            db.session.get(Store, shop.store_id).woo_consumer_secret = "cs"
            db.session.commit()
        coupon_id = add_coupon(app, shop.store_id)
        assert sync(app, coupon_id) == (SyncState.FAILED, "refused: not a valid https shop URL")
        assert stub.requests == []


def test_the_connection_is_pinned_to_the_vetted_address_and_keeps_the_hostname(app, shop_dns):
    app.config["ALLOW_PRIVATE_SHOP_URLS"] = True
    shop_dns["shop.example"] = ["127.0.0.1"]
    with WooStub() as stub:
        stub.queue.append((200, {"X-WP-TotalPages": "3"}, b'[{"total": 1.5}]'))
        reply = call(app, f"http://shop.example:{stub.port}/bütik", params={"page": 2})
        assert reply.status == 200 and reply.json() == [{"total": Decimal("1.5")}]
        assert reply.headers["x-wp-totalpages"] == "3"
        assert (stub.last.path, stub.last.query) == ("/b%C3%BCtik/wp-json/wc/v3/orders", "page=2")
        assert stub.last.headers["Host"] == f"shop.example:{stub.port}"


def test_https_checks_the_certificate_against_the_hostname_not_the_address(app, shop_dns, tmp_path, monkeypatch):
    app.config["ALLOW_PRIVATE_SHOP_URLS"] = True
    cert, key = make_tls_cert(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", cert)
    shop_dns["shop.example"] = ["127.0.0.1"]  # the certificate is for localhost and 127.0.0.1 only
    with WooStub(tls_cert=cert, tls_key=key) as stub:
        assert call(app, f"https://localhost:{stub.port}").status == 200
        assert stub.last.headers["Host"] == f"localhost:{stub.port}"
        assert refusal(app, f"https://shop.example:{stub.port}").status == "TLS certificate not valid for the host"
        monkeypatch.delenv("REQUESTS_CA_BUNDLE")
        assert refusal(app, f"https://localhost:{stub.port}").status == "TLS certificate not valid for the host"


def test_a_redirect_is_not_followed(app, shop, shop_dns):
    app.config["ALLOW_PRIVATE_SHOP_URLS"] = True
    with WooStub() as stub:
        stub.queue.append((302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""))
        assert call(app, stub.base_url).status == 302 and len(stub.requests) == 1
        connect(app, shop.store_id, stub.base_url)
        coupon_id = add_coupon(app, shop.store_id)
        stub.queue.append((301, {"Location": "http://169.254.169.254/"}, b""))
        assert sync(app, coupon_id) == (SyncState.FAILED, "HTTP 301 (a redirect, not followed: check the shop URL)")
        assert len(stub.requests) == 2


def test_the_reply_body_is_never_stored_or_shown(app, shop):
    """The audit's listener answered 500 with an internal secret, which the coupon page then showed."""
    app.config["ALLOW_PRIVATE_SHOP_URLS"] = True
    with WooStub() as stub:
        connect(app, shop.store_id, stub.base_url)
        coupon_id = add_coupon(app, shop.store_id)
        stub.queue.append((500, {"Content-Type": "text/plain"}, b"INTERNAL-ONLY: db_password=hunter2"))
        assert sync(app, coupon_id) == (SyncState.PENDING, "HTTP 500")
        clock.advance(timedelta(minutes=1))
        stub.queue.append((400, {}, {"code": "INTERNAL-ONLY: db_password=hunter2", "message": "hunter2"}))
        assert sync(app, coupon_id) == (SyncState.FAILED, "HTTP 400")
        clock.advance(timedelta(minutes=1))


@pytest.mark.parametrize("headers_complete", [True, False], ids=["body", "headers"])
def test_a_trickling_reply_ends_at_the_deadline(app, headers_complete):
    """A socket timeout only bounds the wait for each next byte; a shop sending one byte every 50 ms beats it."""
    app.config["ALLOW_PRIVATE_SHOP_URLS"] = True
    with TricklingShop(headers_complete=headers_complete) as shop:
        began = time.monotonic()
        error = refusal(app, shop.base_url, timeout=0.5)
        assert (error.status, error.transient) == ("timed out", True)
        assert time.monotonic() - began < 3  # the trickle would never end: its bytes come well within 10 s


def test_a_reply_over_the_size_cap_is_refused(app):
    app.config["ALLOW_PRIVATE_SHOP_URLS"] = True
    with WooStub() as stub:
        stub.queue.append((200, {}, b"[" + b" " * 2000 + b"]"))
        assert refusal(app, stub.base_url, max_bytes=1000).status == "reply too large"
        stub.queue.append((200, {}, b"[]"))
        assert call(app, stub.base_url, max_bytes=1000).body == b"[]"


def test_a_closed_port_is_a_transient_failure_with_a_short_status(app):
    app.config["ALLOW_PRIVATE_SHOP_URLS"] = True
    stub = WooStub()
    stub.close()
    error = refusal(app, stub.base_url)
    assert (error.status, error.transient) == ("connection refused", True)


def test_the_shop_settings_default_to_the_guard_on_and_keep_the_pull_bounds_usable(monkeypatch, tmp_path):
    from retainful import config

    for name in ("ALLOW_PRIVATE_SHOP_URLS", "WOO_PULL_MAX_PAGES", "WOO_PULL_SECONDS_PER_STORE", "WOO_PULL_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    loaded = config.load(str(tmp_path))
    assert (loaded["ALLOW_PRIVATE_SHOP_URLS"], loaded["WOO_PULL_MAX_PAGES"], loaded["WOO_PULL_SECONDS_PER_STORE"],
            loaded["WOO_PULL_CONCURRENCY"]) == (False, 20, 60.0, 4)
    monkeypatch.setenv("ALLOW_PRIVATE_SHOP_URLS", "1")
    monkeypatch.setenv("WOO_PULL_MAX_PAGES", "1")  # a resumed pull re-reads a page: one page would never advance
    monkeypatch.setenv("WOO_PULL_SECONDS_PER_STORE", "0")
    monkeypatch.setenv("WOO_PULL_CONCURRENCY", "0")
    loaded = config.load(str(tmp_path))
    assert (loaded["ALLOW_PRIVATE_SHOP_URLS"], loaded["WOO_PULL_MAX_PAGES"], loaded["WOO_PULL_SECONDS_PER_STORE"],
            loaded["WOO_PULL_CONCURRENCY"]) == (True, 2, 1.0, 1)
