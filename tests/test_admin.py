"""The admin panel through the Flask test client: logins, roles and store scoping on every page and action, CSRF,
templates, settings, key rotation, GDPR erase and export, message retry, the sequence, reports and the CLI."""
from __future__ import annotations

import json
import re
import threading
from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest
import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from retainful_admin import charts, security
from retainful import clock, users
from retainful.extensions import db
from retainful.models import (
    Cart,
    ConsentEvent,
    Coupon,
    Customer,
    Message,
    Order,
    Role,
    Step,
    Store,
    TemplateVersion,
    User,
)
from retainful.models.user import LoginThrottle
from tests.conftest import T0, _empty_tables, cart_body, make_app
from tests.test_recovery_sequence import run_jobs

PASSWORD = "correct horse battery"
OTHER_DOMAIN = "other.example"


# --- helpers -------------------------------------------------------------------------------------------------------

def add_user(app, email, role, store_ids=(), password=PASSWORD, active=True):
    """A user with a cheap hash (the real scrypt one is exercised by the login tests), for fast permission tests."""
    with app.app_context():
        user = User(email=email, role=role, active=active,
                    password_hash=generate_password_hash(password, method="pbkdf2:sha256:1"),
                    stores=[db.session.get(Store, store_id) for store_id in store_ids])
        db.session.add(user)
        db.session.commit()
        return user.id


def logged_in(app, user_id):
    """A fresh test client with a Flask-Login session for this user, as a login makes it."""
    with app.app_context():
        version = db.session.get(User, user_id).session_version
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = str(user_id)
        session["_fresh"] = True
        session[security.SESSION_VERSION_KEY] = version
        session[security.LAST_SEEN_KEY] = clock.now().timestamp()
    return client


def log_in(client, email, password=PASSWORD):
    return client.post("/admin/login", data={"csrf_token": csrf_token(client, "/admin/login"), "email": email,
                                             "password": password})


def csrf_token(client, path="/admin/templates/"):
    page = client.get(path)
    match = re.search(r'name="csrf-token" content="([^"]+)"', page.get_data(as_text=True))
    assert match, f"no CSRF token on {path} ({page.status_code})"
    return match.group(1)


def post(client, path, data=None, token=None, **kwargs):
    """A form POST with the page's CSRF token, as a browser sends it."""
    data = dict(data or {})
    data["csrf_token"] = token or csrf_token(client)
    return client.post(path, data=data, **kwargs)


def text(response):
    return response.get_data(as_text=True)


def seed(app, store, domain="acme.example"):
    """A recovered cart (alice), an abandoned cart with pending messages (carol), an unreachable guest cart, a failed
    message and a coupon. Returns their ids."""
    url = f"https://{domain}/cart"
    store.put_cart("c1", cart_body(recovery_url=url, customer={
        "email": f"alice@{domain}", "first_name": "Alice", "email_consent": True}))
    store.put_cart("c3", cart_body(recovery_url=url, customer={
        "email": f"carol@{domain}", "phone": "+12125550123", "first_name": "Carol", "last_name": "Jones",
        "external_id": "c-77", "email_consent": True, "sms_consent": True}))
    guest = cart_body(recovery_url=url)
    guest.pop("customer")
    store.put_cart("g1", guest)
    clock.advance(timedelta(minutes=30))
    run_jobs(app)  # abandoned; step 1 email sent to both; carol's SMS waits for the morning
    placed = store.post_order({"order_id": f"{domain}-1", "cart_token": "c1", "total": "36.95", "currency": "USD",
                               "status": "processing"})
    assert placed.status_code == 201, placed.get_json()
    with app.app_context():
        sid = store.store_id
        carol = db.session.scalar(sa.select(Customer).where(Customer.store_id == sid,
                                                            Customer.email == f"carol@{domain}"))
        alice = db.session.scalar(sa.select(Customer).where(Customer.store_id == sid,
                                                            Customer.email == f"alice@{domain}"))
        failed = db.session.scalar(sa.select(Message).where(
            Message.customer_id == carol.id, Message.status == "scheduled").order_by(Message.due_at.desc()).limit(1))
        failed.status, failed.error = "failed", "550 mailbox unavailable"
        coupon = Coupon(store_id=sid, code=f"SAVE{sid}ABC", kind="recovery", discount_type="percent",
                        amount=Decimal(10), currency="USD", expires_at=T0 + timedelta(days=2),
                        email=carol.email, customer_id=carol.id, cart_id=failed.cart_id)
        db.session.add(coupon)
        db.session.commit()
        order = db.session.scalar(sa.select(Order).where(Order.store_id == sid))
        sent = db.session.scalar(sa.select(Message).where(Message.customer_id == carol.id, Message.status == "sent"))
        return {"store": sid, "cart": failed.cart_id, "recovered_cart": order.cart_id, "customer": carol.id,
                "alice": alice.id, "order": order.id, "message": sent.id, "failed_message": failed.id,
                "coupon": coupon.id}


@pytest.fixture
def world(app, shop, make_store):
    """Two stores with data, and users: an admin, an owner and a marketer of store A, an owner of store B."""
    other = make_store(name="Other Shop", domain=OTHER_DOMAIN, country="US", timezone="America/New_York")
    a = seed(app, shop)
    b = seed(app, other, domain=OTHER_DOMAIN)
    ids = {
        "admin": add_user(app, "admin@retainful.test", Role.ADMIN),
        "owner": add_user(app, "owner@acme.test", Role.OWNER, [a["store"]]),
        "marketer": add_user(app, "marketer@acme.test", Role.MARKETER, [a["store"]]),
        "other_owner": add_user(app, "owner@other.test", Role.OWNER, [b["store"]]),
    }
    return {"a": a, "b": b, "users": ids, "shop": shop, "other": other}


def pages(ids):
    """Every GET page, with the ids of one store's records."""
    return [
        "/admin/", "/admin/carts/", f"/admin/carts/{ids['cart']}", "/admin/carts/?status=abandoned&q=carol",
        "/admin/customers/", f"/admin/customers/{ids['customer']}", "/admin/orders/", f"/admin/orders/{ids['order']}",
        "/admin/messages/", f"/admin/messages/{ids['message']}", "/admin/coupons/", f"/admin/coupons/{ids['coupon']}",
        "/admin/sequence/", "/admin/templates/", "/admin/templates/edit/email/abandoned_cart/step1",
        "/admin/templates/edit/sms/abandoned_cart/step1", "/admin/reports/", "/admin/reports/daily.csv",
        "/admin/settings/", f"/admin/customers/{ids['customer']}/export.json", "/admin/automations/",
        "/admin/automations/win_back/", "/admin/products/", "/admin/automations/replenishment/",
    ]


OWNER_ONLY_PAGES = ("/admin/settings/", "/export.json")


# --- login, logout, throttling --------------------------------------------------------------------------------------

def test_anonymous_visitors_are_sent_to_the_login_page(world, client):
    for path in pages(world["a"]):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/admin/login?next="), path
    assert client.get("/admin/login").status_code == 200
    assert client.get("/admin/static/bootstrap/bootstrap4/css/bootstrap.min.css").status_code == 200
    assert client.get("/admin/assets/editor.js").status_code == 200


def test_login_with_the_real_password_hash_then_logout(app, shop, client):
    with app.app_context():
        user = users.create_user("Owner@Acme.test", PASSWORD, Role.OWNER, [shop.store_id])
        assert user.password_hash.startswith("scrypt:")
    token = csrf_token(client, "/admin/login")
    response = client.post("/admin/login", data={"csrf_token": token, "email": "owner@acme.test",
                                                 "password": PASSWORD, "next": "/admin/carts/"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/carts/"
    page = client.get("/admin/")
    assert page.status_code == 200 and "owner@acme.test" in text(page) and 'id="daily-chart"' in text(page)
    out = post(client, "/admin/logout")
    assert out.status_code == 302 and out.headers["Location"] == "/admin/login"
    assert client.get("/admin/").status_code == 302


def test_wrong_password_gets_a_clear_page(app, shop, client):
    add_user(app, "owner@acme.test", Role.OWNER, [shop.store_id])
    token = csrf_token(client, "/admin/login")
    for email, password in (("owner@acme.test", "wrong password"), ("nobody@acme.test", PASSWORD)):
        response = client.post("/admin/login", data={"csrf_token": token, "email": email, "password": password})
        assert response.status_code == 401
        assert 'id="login-error"' in text(response) and "Wrong email or password." in text(response)
    assert client.get("/admin/").status_code == 302


def _attempts(client, email, password, count, **kwargs):
    token = csrf_token(client, "/admin/login")
    return [client.post("/admin/login", data={"csrf_token": token, "email": email, "password": password}, **kwargs)
            for _ in range(count)]


def test_known_and_unknown_accounts_get_the_same_answers_and_the_same_work(app, shop, monkeypatch):
    add_user(app, "owner@acme.test", Role.OWNER, [shop.store_id])
    hashed = []
    check = users.check_password_hash
    monkeypatch.setattr(users, "check_password_hash", lambda digest, password: hashed.append(digest[:6]) or check(
        digest, password))
    answers = {}
    for email in ("owner@acme.test", "nobody@acme.test"):
        client = app.test_client()  # each from its own address, so only the account's count applies
        replies = _attempts(client, email, "wrong", users.ACCOUNT_FREE_FAILURES + 2,
                            environ_base={"REMOTE_ADDR": f"192.0.2.{len(answers) + 1}"})
        answers[email] = [(r.status_code, r.headers.get("Retry-After"), text(r).split('id="login-error"')[1][:120])
                          for r in replies]
    assert answers["owner@acme.test"] == answers["nobody@acme.test"]
    statuses = [status for status, _, _ in answers["nobody@acme.test"]]
    assert statuses == [401] * (users.ACCOUNT_FREE_FAILURES - 1) + [429, 429, 429]
    assert answers["nobody@acme.test"][-1][1] == "2"
    assert "Too many failed attempts. Try again in 2 seconds." in answers["nobody@acme.test"][-1][2]
    assert "account" not in answers["nobody@acme.test"][-1][2]
    # Every checked attempt ran scrypt, with the real hash or the dummy one; refused ones (a delay running) ran none.
    assert hashed == ["pbkdf2"] * users.ACCOUNT_FREE_FAILURES + ["scrypt"] * users.ACCOUNT_FREE_FAILURES


def test_failures_grow_the_delay_and_the_right_password_logs_in_once_it_has_passed(app, shop, client):
    add_user(app, "owner@acme.test", Role.OWNER, [shop.store_id])
    for _ in range(users.ACCOUNT_FREE_FAILURES - 1):
        assert log_in(client, "owner@acme.test", "wrong").status_code == 401
    waits = []
    for _ in range(4):
        refused = log_in(client, "owner@acme.test", "wrong")  # each one starts a longer delay
        assert refused.status_code == 429
        waits.append(int(refused.headers["Retry-After"]))
        still = log_in(client, "owner@acme.test", PASSWORD)  # the right password waits too, and is not checked
        assert still.status_code == 429 and int(still.headers["Retry-After"]) == waits[-1]
        clock.advance(timedelta(seconds=waits[-1]))
    assert waits == [2, 4, 8, 16]
    assert log_in(client, "owner@acme.test", PASSWORD).status_code == 302  # the delay passed: no lockout
    assert client.get("/admin/").status_code == 200
    other = app.test_client()
    assert log_in(other, "owner@acme.test", "wrong").status_code == 401  # a success starts the account afresh


def test_the_delay_is_capped_and_forgotten_after_a_quiet_hour(app, shop, client):
    add_user(app, "owner@acme.test", Role.OWNER, [shop.store_id])
    for _ in range(30):
        answer = log_in(client, "owner@acme.test", "wrong")
        if answer.status_code == 429:
            clock.advance(timedelta(seconds=int(answer.headers["Retry-After"])))
    assert int(answer.headers["Retry-After"]) == users.MAX_DELAY.total_seconds()
    clock.advance(users.FAILURE_WINDOW)
    assert log_in(client, "owner@acme.test", "wrong").status_code == 401
    with app.app_context():  # keys quiet for the window are pruned
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginThrottle)) == 2


def test_parallel_guesses_cannot_slip_past_the_limit(app, shop, monkeypatch):
    add_user(app, "owner@acme.test", Role.OWNER, [shop.store_id])
    checked, outcomes = [], []
    check = users.check_password_hash
    monkeypatch.setattr(users, "check_password_hash", lambda *args: checked.append(1) or check(*args))
    start = threading.Barrier(12)

    def guess(n):
        with app.app_context():
            start.wait()
            try:  # from as many addresses (a botnet): only the account's count stands in the way
                outcomes.append(users.authenticate("owner@acme.test", "wrong", f"192.0.2.{n}"))
            except users.LoginThrottled:
                outcomes.append("throttled")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # Every attempt is counted before its password is checked: exactly the free ones were checked, however they raced.
    assert len(checked) == users.ACCOUNT_FREE_FAILURES
    assert len(outcomes) == 12 and set(outcomes) == {None, "throttled"}
    assert outcomes.count("throttled") >= 12 - users.ACCOUNT_FREE_FAILURES + 1  # the one that started the delay too
    with app.app_context():
        assert db.session.scalar(sa.select(LoginThrottle.failures).where(
            LoginThrottle.key == users._account_key("owner@acme.test"))) == users.ACCOUNT_FREE_FAILURES


def test_one_address_spraying_many_accounts_is_slowed_and_others_are_not(app, shop):
    add_user(app, "owner@acme.test", Role.OWNER, [shop.store_id])
    sprayer = app.test_client()
    token = csrf_token(sprayer, "/admin/login")
    statuses = [sprayer.post("/admin/login", data={"csrf_token": token, "email": f"user{n}@acme.test",
                                                   "password": "wrong"}).status_code
                for n in range(users.ADDRESS_FREE_FAILURES + 1)]
    assert statuses == [401] * (users.ADDRESS_FREE_FAILURES - 1) + [429, 429]
    blocked = sprayer.post("/admin/login", data={"csrf_token": token, "email": "owner@acme.test",
                                                 "password": PASSWORD})
    assert blocked.status_code == 429 and blocked.headers["Retry-After"] == "2"
    elsewhere = app.test_client()  # the owner, from another address, is not held up by the sprayer
    answer = elsewhere.post("/admin/login", data={"csrf_token": csrf_token(elsewhere, "/admin/login"),
                                                  "email": "owner@acme.test", "password": PASSWORD},
                            environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert answer.status_code == 302


@pytest.mark.parametrize("proxies", [0, 1])
def test_the_client_address_comes_from_x_forwarded_for_only_behind_trusted_proxies(database_url, proxies):
    app = make_app(database_url, TRUSTED_PROXY_COUNT=proxies)
    try:
        client = app.test_client()
        token = csrf_token(client, "/admin/login")

        def attempt(n, forwarded_for):
            return client.post("/admin/login", headers={"X-Forwarded-For": forwarded_for},
                               data={"csrf_token": token, "email": f"user{n}@acme.test", "password": "wrong"})

        for n in range(users.ADDRESS_FREE_FAILURES - 1):
            assert attempt(n, "203.0.113.5").status_code == 401
        assert attempt(99, "203.0.113.5").status_code == 429
        # Behind a trusted proxy another client is another address; without one the header is the client's own
        # claim, and changing it escapes nothing.
        assert attempt(100, "203.0.113.6").status_code == (401 if proxies else 429)
    finally:
        _empty_tables(app)


def test_hostile_login_input_gets_the_login_page(app, shop, client):
    add_user(app, "owner@acme.test", Role.OWNER, [shop.store_id])
    token = csrf_token(client, "/admin/login")
    bodies = ["email=owner%40acme.test%00&password=x", "email=%ED%A0%80%40acme.test&password=x%ED%A0%80",
              "email=%FF%FE&password=%C0%80", f"email={'x' * 100_000}&password={'y' * 100_000}", "email=&password=",
              "email=owner%40acme.test&password=" + "%00" * 10, "email[]=1&password[]=2", "password=only"]
    for body in bodies:
        answer = client.post("/admin/login", data=f"csrf_token={token}&{body}",
                             content_type="application/x-www-form-urlencoded")
        assert answer.status_code in (401, 429), (body[:40], answer.status_code)
        assert 'id="login-error"' in text(answer)
    assert client.post("/admin/login", data={"email": "owner@acme.test", "password": PASSWORD}).status_code == 400
    too_big = client.post("/admin/login", data=f"csrf_token={token}&email=owner%40acme.test&password={'p' * 300_000}",
                          content_type="application/x-www-form-urlencoded")
    assert too_big.status_code == 413


def test_logout_revokes_a_copied_session_cookie(world, app, client):
    add_user(app, "someone@acme.test", Role.OWNER, [world["a"]["store"]])
    assert log_in(client, "someone@acme.test").status_code == 302
    copied = client.get_cookie("session").value
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/admin/customers/").status_code == 200
    assert post(client, "/admin/logout").status_code == 302
    replay = thief.get("/admin/customers/")
    assert replay.status_code == 302 and replay.headers["Location"].startswith("/admin/login")
    assert log_in(client, "someone@acme.test").status_code == 302  # logging in again works


def test_a_password_change_ends_every_session_of_the_user(world, app, client):
    owner = logged_in(app, world["users"]["owner"])
    marketer = logged_in(app, world["users"]["marketer"])
    assert owner.get("/admin/").status_code == 200
    with app.app_context():
        users.set_password(db.session.get(User, world["users"]["owner"]), "a brand new password")
    assert owner.get("/admin/").status_code == 302
    assert marketer.get("/admin/").status_code == 200  # other users keep theirs
    assert log_in(client, "owner@acme.test", "a brand new password").status_code == 302


def test_an_idle_session_expires_after_admin_session_hours(world, app):
    owner = logged_in(app, world["users"]["owner"])
    hours = app.config["ADMIN_SESSION_HOURS"]
    assert hours == 12
    clock.advance(timedelta(hours=hours) - timedelta(minutes=1))
    assert owner.get("/admin/").status_code == 200  # used in time: the clock starts again
    clock.advance(timedelta(hours=hours) - timedelta(minutes=1))
    assert owner.get("/admin/carts/").status_code == 200
    clock.advance(timedelta(hours=hours, seconds=1))
    expired = owner.get("/admin/carts/")
    assert expired.status_code == 302 and expired.headers["Location"].startswith("/admin/login")
    assert owner.get("/admin/carts/").status_code == 302  # the expired session was cleared, not revived


def test_a_session_without_the_servers_marks_is_refused(world, app):
    forged = app.test_client()  # a cookie signed with the key but made before sessions carried a version
    with forged.session_transaction() as session:
        session["_user_id"] = str(world["users"]["owner"])
    assert forged.get("/admin/").status_code == 302
    for version in ("1", 2, None, True):
        client = logged_in(app, world["users"]["owner"])
        with client.session_transaction() as session:
            session[security.SESSION_VERSION_KEY] = version
        assert client.get("/admin/").status_code == 302, version


def test_inactive_users_and_unsafe_next_urls(app, shop, client):
    add_user(app, "gone@acme.test", Role.OWNER, [shop.store_id], active=False)
    add_user(app, "owner@acme.test", Role.OWNER, [shop.store_id])
    token = csrf_token(client, "/admin/login")
    refused = client.post("/admin/login", data={"csrf_token": token, "email": "gone@acme.test", "password": PASSWORD})
    assert refused.status_code == 401
    ok = client.post("/admin/login", data={"csrf_token": token, "email": "owner@acme.test", "password": PASSWORD,
                                           "next": "https://evil.example/admin"})
    assert ok.status_code == 302 and ok.headers["Location"] == "/admin/"


# --- CSRF ----------------------------------------------------------------------------------------------------------

def test_posts_without_the_csrf_token_are_refused(world, app, client):
    owner = logged_in(app, world["users"]["owner"])
    a = world["a"]
    for path, data in (("/admin/settings/rotate-key", {}),
                       ("/admin/settings/general", {"name": "Hacked"}),
                       (f"/admin/customers/{a['customer']}/erase", {"confirm": "yes"}),
                       (f"/admin/messages/{a['failed_message']}/retry", {}),
                       ("/admin/sequence/step/1/toggle", {}),
                       ("/admin/templates/save/sms/abandoned_cart/step1", {"source": "Hi {{ store.name }}"}),
                       ("/admin/templates/preview/sms/abandoned_cart/step1", {"source": "x"}),
                       ("/admin/logout", {})):
        response = owner.post(path, data=data)
        assert response.status_code == 400 and "CSRF" in text(response), path
        wrong = owner.post(path, data={**data, "csrf_token": "not-a-token"})
        assert wrong.status_code == 400, path
    assert client.post("/admin/login", data={"email": "owner@acme.test", "password": PASSWORD}).status_code == 400
    with app.app_context():
        store = db.session.get(Store, a["store"])
        assert store.name == "Acme Mugs"
        assert db.session.get(Customer, a["customer"]).email == "carol@acme.example"
    # The storefront API and the shopper's one-click unsubscribe take no CSRF token.
    assert world["shop"].put_cart("api", cart_body()).status_code == 201


# --- roles and scoping ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["admin", "owner", "marketer"])
def test_each_role_on_each_page(world, app, role):
    client = logged_in(app, world["users"][role])
    for path in pages(world["a"]):
        response = client.get(path)
        manage_only = any(marker in path for marker in OWNER_ONLY_PAGES)
        expected = 403 if role == "marketer" and manage_only else 200
        assert response.status_code == expected, (role, path, response.status_code)


def test_menus_show_what_the_role_may_use(world, app):
    marketer = text(logged_in(app, world["users"]["marketer"]).get("/admin/"))
    owner = text(logged_in(app, world["users"]["owner"]).get("/admin/"))
    assert 'href="/admin/settings/"' in owner and 'href="/admin/settings/"' not in marketer
    assert 'href="/admin/templates/"' in marketer and 'href="/admin/reports/"' in marketer
    customer = f"/admin/customers/{world['a']['customer']}"
    assert 'id="erase-form"' in text(logged_in(app, world["users"]["owner"]).get(customer))
    assert 'id="erase-form"' not in text(logged_in(app, world["users"]["marketer"]).get(customer))
    sequence = text(logged_in(app, world["users"]["marketer"]).get("/admin/sequence/"))
    assert 'id="sequence-table"' in sequence and 'id="step-form-1"' not in sequence


def manage_actions(ids):
    return [
        ("/admin/settings/general", {"name": "Changed", "timezone": "UTC", "abandon_after_minutes": "20",
                                     "retention_days": "30", "customer_retention_days": "730",
                                     "quiet_hours_start": "21", "quiet_hours_end": "8",
                                     "email_cap_hours": "16", "sms_cap_hours": "24"}),
        ("/admin/settings/holdout", {"holdout_percent": "10"}),
        ("/admin/settings/next-order", {"next_order_enabled": "1", "next_order_statuses": "completed",
                                        "next_order_type": "percent", "next_order_amount": "15",
                                        "next_order_valid_days": "30"}),
        ("/admin/settings/woocommerce", {"woo_url": "https://acme.example", "woo_consumer_key": "ck_1",
                                         "woo_consumer_secret": "cs_1"}),
        ("/admin/settings/woocommerce/disconnect", {}),
        ("/admin/settings/retainful/test", {}),  # not connected: recorded as such, no request (woocommerce/test: in
                                                  # test_connections.py, against a fake shop)
        ("/admin/settings/rotate-key", {}),
        ("/admin/sequence/step/2", {"delay_value": "8", "delay_unit": "hours", "email": "1", "enabled": "1"}),
        ("/admin/sequence/step/5/toggle", {}),
        (f"/admin/customers/{ids['customer']}/erase", {"confirm": "yes"}),
        (f"/admin/customers/{ids['customer']}/unsubscribe", {}),
        (f"/admin/customers/{ids['customer']}/opt-out-sms", {}),
        (f"/admin/messages/{ids['failed_message']}/retry", {}),
    ]


def test_marketers_get_403_on_every_manage_action_and_nothing_changes(world, app):
    marketer = logged_in(app, world["users"]["marketer"])
    token = csrf_token(marketer)
    a = world["a"]
    with app.app_context():
        key_hash = db.session.get(Store, a["store"]).api_key_hash
    for path, data in manage_actions(a):
        assert post(marketer, path, data, token).status_code == 403, path
    assert marketer.get(f"/admin/customers/{a['customer']}/export.json").status_code == 403
    with app.app_context():
        store = db.session.get(Store, a["store"])
        assert (store.name, store.holdout_percent, store.api_key_hash) == ("Acme Mugs", 0, key_hash)
        assert db.session.get(Customer, a["customer"]).email == "carol@acme.example"
        assert db.session.get(Message, a["failed_message"]).status == "failed"
        steps = db.session.scalars(sa.select(Step).where(
            Step.store_id == a["store"], Step.sequence.has(kind="abandoned_cart")).order_by(Step.position)).all()
        assert steps[1].delay_minutes == 360 and steps[4].enabled


@pytest.mark.parametrize("role", ["admin", "owner"])
def test_owners_and_admins_may_run_every_manage_action(world, app, role):
    client = logged_in(app, world["users"][role])
    token = csrf_token(client)
    for path, data in manage_actions(world["a"]):
        response = post(client, path, data, token)
        assert response.status_code in (200, 302), (path, response.status_code, text(response)[:500])


def test_an_owner_gets_404_for_another_stores_ids(world, app):
    owner = logged_in(app, world["users"]["owner"])
    token = csrf_token(owner)
    b = world["b"]
    for path in (f"/admin/carts/{b['cart']}", f"/admin/customers/{b['customer']}", f"/admin/orders/{b['order']}",
                 f"/admin/messages/{b['message']}", f"/admin/coupons/{b['coupon']}",
                 f"/admin/customers/{b['customer']}/export.json", "/admin/carts/999999"):
        assert owner.get(path).status_code == 404, path
    for path in (f"/admin/customers/{b['customer']}/erase", f"/admin/customers/{b['customer']}/unsubscribe",
                 f"/admin/customers/{b['customer']}/opt-out-sms", f"/admin/messages/{b['failed_message']}/retry"):
        assert post(owner, path, {"confirm": "yes"}, token).status_code == 404, path
    with app.app_context():
        customer = db.session.get(Customer, b["customer"])
        assert customer.email == f"carol@{OTHER_DOMAIN}" and customer.unsubscribed_at is None
        assert db.session.get(Message, b["failed_message"]).status == "failed"


def test_lists_show_only_the_current_store(world, app):
    owner = logged_in(app, world["users"]["owner"])
    for path in ("/admin/carts/", "/admin/customers/", "/admin/orders/", "/admin/messages/", "/admin/coupons/",
                 "/admin/carts/?q=carol", "/admin/customers/?q=carol", "/admin/messages/?q=carol"):
        page = text(owner.get(path))
        assert "acme.example" in page or "SAVE" in page, path
        assert OTHER_DOMAIN not in page, path
    csv = text(owner.get("/admin/reports/daily.csv"))
    assert csv.startswith("date,") and "1," in csv  # store A's own figures


def test_the_store_switcher_keeps_users_inside_their_stores(world, app):
    a, b = world["a"], world["b"]
    owner = logged_in(app, world["users"]["owner"])
    token = csrf_token(owner)
    switched = post(owner, "/admin/store", {"store_id": b["store"], "next": "/admin/carts/"}, token)
    assert switched.status_code == 302
    assert owner.get(f"/admin/carts/{b['cart']}").status_code == 404
    assert owner.get(f"/admin/carts/{a['cart']}").status_code == 200

    admin = logged_in(app, world["users"]["admin"])
    assert admin.get(f"/admin/carts/{a['cart']}").status_code == 200  # the first store by default
    assert admin.get(f"/admin/carts/{b['cart']}").status_code == 404  # not the current store
    post(admin, "/admin/store", {"store_id": b["store"]})
    assert admin.get(f"/admin/carts/{b['cart']}").status_code == 200
    assert admin.get(f"/admin/carts/{a['cart']}").status_code == 404
    assert OTHER_DOMAIN in text(admin.get("/admin/customers/"))

    with app.app_context():  # an owner of two stores picks either
        user = db.session.get(User, world["users"]["owner"])
        user.stores.append(db.session.get(Store, b["store"]))
        db.session.commit()
    post(owner, "/admin/store", {"store_id": b["store"]})
    assert owner.get(f"/admin/carts/{b['cart']}").status_code == 200


def test_removing_a_user_from_a_store_takes_effect_at_once(world, app):
    owner = logged_in(app, world["users"]["owner"])
    assert owner.get(f"/admin/carts/{world['a']['cart']}").status_code == 200
    with app.app_context():
        db.session.get(User, world["users"]["owner"]).stores = []
        db.session.commit()
    assert 'id="no-store"' in text(owner.get("/admin/carts/"))
    assert 'id="no-store"' in text(owner.get(f"/admin/carts/{world['a']['cart']}"))


def test_a_deactivated_user_is_logged_out(world, app):
    owner = logged_in(app, world["users"]["owner"])
    with app.app_context():
        db.session.get(User, world["users"]["owner"]).active = False
        db.session.commit()
    assert owner.get("/admin/").status_code == 302


def test_an_admin_without_stores_sees_how_to_create_one(app, client):
    admin = logged_in(app, add_user(app, "admin@retainful.test", Role.ADMIN))
    page = admin.get("/admin/carts/")
    assert page.status_code == 200 and "retainful create-store" in text(page)


# --- templates: preview, save, reset, history, test-send ----------------------------------------------------------

def test_live_preview_of_unsaved_text_for_sms_and_email(world, app):
    marketer = logged_in(app, world["users"]["marketer"])
    token = csrf_token(marketer)
    headers = {"X-CSRFToken": token, "X-Requested-With": "fetch"}
    sms = marketer.post("/admin/templates/preview/sms/abandoned_cart/step1", headers=headers,
                        data={"source": "{{ store.name }}: hi {{ customer.first_name }} €", "cart_token": "c3"})
    body = sms.get_json()
    assert sms.status_code == 200, body
    assert body["text"].startswith("Acme Mugs: hi Carol €") and body["text"].endswith("Reply STOP to opt out")
    assert (body["encoding"], body["segments"]) == ("GSM-7", 1) and body["characters"] == len(body["text"]) + 1
    long = marketer.post("/admin/templates/preview/sms/abandoned_cart/step1", headers=headers,
                         data={"source": "ą" * 200}).get_json()
    assert long["encoding"] == "UCS-2" and long["segments"] >= 4 and long["warnings"]
    email = marketer.post("/admin/templates/preview/email/abandoned_cart/step1", headers=headers, data={}).get_json()
    assert email["subject"] == "Alex, you left something behind" and "Classic enamel mug" in email["text"]
    assert '<base target="_blank">' in email["html"]
    broken = marketer.post("/admin/templates/preview/sms/abandoned_cart/step1", headers=headers,
                           data={"source": "Hi {{ customer.first_name "})
    assert broken.status_code == 400 and "line 1" in broken.get_json()["error"]["message"]
    foreign = marketer.post("/admin/templates/preview/sms/abandoned_cart/step1", headers=headers,
                            data={"cart_token": "c3x"})
    assert foreign.status_code == 400
    unknown = marketer.post("/admin/templates/preview/sms/nope", headers=headers, data={})
    assert unknown.status_code == 404


@pytest.mark.parametrize("source, code", [
    ("{{ 'x' * 10**10 }}", "template_too_expensive"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "template_too_expensive"),
    ("{{ 1e999|money }}", "validation_error"),
    ("{% for i in range(2) %}" * 25 + "{% endfor %}" * 25, "validation_error"),
])
def test_hostile_templates_in_the_editor_are_400s_naming_the_source(world, app, source, code):
    marketer = logged_in(app, world["users"]["marketer"])
    token = csrf_token(marketer)
    headers = {"X-CSRFToken": token, "X-Requested-With": "fetch"}
    path = "/admin/templates/{}/sms/abandoned_cart/step1"
    preview = marketer.post(path.format("preview"), headers=headers, data={"source": source, "cart_token": "c3"})
    assert preview.status_code == 400 and preview.get_json()["error"]["field"] == "source"
    assert preview.get_json()["error"]["code"] == code
    sent = marketer.post(path.format("test-send"), headers=headers, data={"source": source, "to": "+12125550199"})
    assert sent.status_code == 400 and sent.get_json()["error"]["code"] == code
    saved = post(marketer, path.format("save"), {"source": source}, token)
    assert saved.status_code == 400 and 'id="save-error"' in text(saved)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(TemplateVersion)) == 0


def test_the_editor_page_has_the_preview_and_the_counter(world, app):
    owner = logged_in(app, world["users"]["owner"])
    sms = text(owner.get("/admin/templates/edit/sms/abandoned_cart/step1?cart_token=c3"))
    for marker in ('id="template-source"', 'id="sms-preview"', 'id="sms-characters"', 'id="sms-segments"',
                   'id="test-send-form"', 'id="template-history"', 'value="c3" selected', "Hi Carol"):
        assert marker in sms, marker
    email = text(owner.get("/admin/templates/edit/email/next_order/coupon"))
    assert '<iframe id="preview-frame"' in email and 'sandbox=""' in email and "srcdoc=" in email
    assert owner.get("/admin/templates/edit/email/../../etc/passwd").status_code == 404
    listing = text(owner.get("/admin/templates/"))
    assert "abandoned_cart/step5" in listing and "next_order/coupon" in listing


def test_save_reset_and_history_through_the_admin(world, app):
    marketer = logged_in(app, world["users"]["marketer"])
    token = csrf_token(marketer)
    path = "/admin/templates/{}/sms/abandoned_cart/step2"
    saved = post(marketer, path.format("save"), {"source": "{{ store.name }}: still there? {{ recovery_url }}"},
                 token)
    assert saved.status_code == 302 and saved.headers["Location"] == "/admin/templates/edit/sms/abandoned_cart/step2"
    bad = post(marketer, path.format("save"), {"source": "{% if %}"}, token)
    assert bad.status_code == 400 and 'id="save-error"' in text(bad) and "{% if %}" in text(bad)
    assert post(marketer, path.format("save"), {"source": "  "}, token).status_code == 400
    page = text(marketer.get(path.format("edit")))
    assert "customised, v1" in page and "still there?" in page and "marketer@acme.test" in page
    assert post(marketer, path.format("reset"), {}, token).status_code == 302
    with app.app_context():
        versions = db.session.scalars(sa.select(TemplateVersion).order_by(TemplateVersion.version)).all()
        assert [(v.version, v.source is None, v.author) for v in versions] == [
            (1, False, "marketer@acme.test"), (2, True, "marketer@acme.test")]
        assert versions[0].store_id == world["a"]["store"]
    history = text(marketer.get(path.format("edit")))
    assert 'data-version="2"' in history and 'data-version="1"' in history and "reset to the default" in history
    # Another store never sees the override.
    other = text(logged_in(app, world["users"]["other_owner"]).get(path.format("edit")))
    assert "still there?" not in other and 'id="template-state">default' in other


SUBJECT_ONLY = ('{% extends "layout.html" %}{% block subject %}Test for {{ customer.first_name }}{% endblock %}'
                '{% block content %}<p>Hi</p>{% endblock %}')


def test_test_send_through_the_admin(world, app):
    marketer = logged_in(app, world["users"]["marketer"])
    token = csrf_token(marketer)
    fetch = {"X-CSRFToken": token, "X-Requested-With": "fetch"}
    sent = marketer.post("/admin/templates/test-send/email/abandoned_cart/step1", headers=fetch,
                         data={"to": "Me@Example.COM", "source": SUBJECT_ONLY, "cart_token": "c3"})
    body = sent.get_json()
    assert sent.status_code == 200 and body["status"] == "sent" and body["provider"] == "sandbox", body
    assert body["to"] == "Me@example.com"
    form = post(marketer, "/admin/templates/test-send/sms/abandoned_cart/step1", {"to": "+1 212 555 0199"}, token)
    assert form.status_code == 200 and "Sent to +12125550199 via sandbox" in text(form)
    bad = post(marketer, "/admin/templates/test-send/sms/abandoned_cart/step1", {"to": "not a phone"}, token)
    assert bad.status_code == 400  # said at the address field, which keeps what was typed
    assert re.search(r'id="test-send-to-error">Not a valid phone number\.<', text(bad))
    assert re.search(r'<input class="form-control is-invalid" type="tel" value="not a phone"[^>]* id="test-send-to"',
                     text(bad))
    empty = post(marketer, "/admin/templates/test-send/email/abandoned_cart/step1", {"to": " "}, token)
    assert empty.status_code == 400 and 'id="test-send-to-error">Type the address' in text(empty)
    with app.app_context():
        tests = db.session.scalars(sa.select(Message).where(Message.kind == "test").order_by(Message.id)).all()
        assert [(m.channel, m.recipient, m.status, m.store_id) for m in tests] == [
            ("email", "Me@example.com", "sent", world["a"]["store"]),
            ("sms", "+12125550199", "sent", world["a"]["store"])]
        assert tests[0].subject == "Test for Carol"


def test_test_sends_are_limited_per_user_and_per_store(world, app):
    app.config.update(TEST_SENDS_PER_USER_HOUR=2, TEST_SENDS_PER_STORE_HOUR=3)
    marketer, owner = (logged_in(app, world["users"][role]) for role in ("marketer", "owner"))
    path = "/admin/templates/test-send/sms/abandoned_cart/step1"

    def send(client, fetch=True):
        token = csrf_token(client)
        headers = {"X-CSRFToken": token, "X-Requested-With": "fetch"} if fetch else {}
        return client.post(path, headers=headers, data={"to": "+1 900 555 0100", "csrf_token": token})

    assert [send(marketer).status_code for _ in range(2)] == [200, 200]
    mine = send(marketer)  # the marketer's own limit
    assert mine.status_code == 429 and mine.get_json()["error"]["code"] == "rate_limited"
    assert int(mine.headers["Retry-After"]) == 3600
    assert send(owner).status_code == 200
    page = send(owner, fetch=False)  # the store's limit, on the editor page
    assert page.status_code == 429 and "test-sends an hour is this store" in text(page)
    assert page.headers["Retry-After"] == "3600"
    with app.app_context():
        requesters = db.session.scalars(sa.select(Message.requested_by).where(Message.kind == "test")).all()
    assert sorted(requesters) == sorted([f"user:{world['users']['marketer']}"] * 2 + [f"user:{world['users']['owner']}"])


# --- settings, key rotation, providers ------------------------------------------------------------------------------

GENERAL = {"name": "Acme Mugs & Co", "timezone": "Europe/Berlin", "abandon_after_minutes": "20",
           "retention_days": "90", "customer_retention_days": "365", "quiet_hours_start": "22", "quiet_hours_end": "7", "email_cap_hours": "12",
           "sms_cap_hours": "48", "sender_name": "Acme", "sender_email": "Hello@Acme.Example", "sms_sender": "ACME",
           "postal_address": "1 Mug Street", "paused": "1"}


def test_settings_change_and_validation(world, app):
    owner = logged_in(app, world["users"]["owner"])
    token = csrf_token(owner)
    page = text(owner.get("/admin/settings/"))
    assert 'id="email-provider" data-live="no">sandbox' in page and 'id="sms-provider"' in page
    assert post(owner, "/admin/settings/general", GENERAL, token).status_code == 302
    with app.app_context():
        store = db.session.get(Store, world["a"]["store"])
        assert (store.name, store.timezone, store.abandon_after_minutes, store.retention_days,
                store.customer_retention_days) == ("Acme Mugs & Co", "Europe/Berlin", 20, 90, 365)
        assert (store.quiet_hours_start, store.quiet_hours_end, store.email_cap_hours, store.sms_cap_hours) == (
            22, 7, 12, 48)
        assert (store.sender_email, store.sms_sender, store.postal_address, store.paused) == (
            "Hello@acme.example", "ACME", "1 Mug Street", True)
    bad = post(owner, "/admin/settings/general", {**GENERAL, "retention_days": "0", "name": "Not saved"}, token)
    assert bad.status_code == 400 and 'id="retention_days-error"' in text(bad) and 'value="Not saved"' in text(bad)
    assert post(owner, "/admin/settings/general", {**GENERAL, "sms_sender": "Way too long sender"},
                token).status_code == 400
    assert post(owner, "/admin/settings/general", {**GENERAL, "quiet_hours_end": "soon"}, token).status_code == 400
    assert post(owner, "/admin/settings/holdout", {"holdout_percent": "10"}, token).status_code == 302
    assert post(owner, "/admin/settings/holdout", {"holdout_percent": "90"}, token).status_code == 400
    rule = {"next_order_enabled": "1", "next_order_statuses": "wc-completed, processing", "next_order_type": "fixed",
            "next_order_amount": "5", "next_order_minimum": "40", "next_order_valid_days": "14",
            "next_order_first_only": "1"}
    assert post(owner, "/admin/settings/next-order", rule, token).status_code == 302
    assert post(owner, "/admin/settings/next-order", {**rule, "next_order_type": "percent",
                                                      "next_order_amount": "150"}, token).status_code == 400
    woo = {"woo_url": "https://shop.acme.example/", "woo_consumer_key": "ck_abc", "woo_consumer_secret": "cs_def"}
    assert post(owner, "/admin/settings/woocommerce", woo, token).status_code == 302
    assert post(owner, "/admin/settings/woocommerce", {**woo, "woo_url": "http://shop.acme.example"},
                token).status_code == 400
    assert post(owner, "/admin/settings/woocommerce", {**woo, "woo_consumer_secret": ""}, token).status_code == 302
    with app.app_context():
        store = db.session.get(Store, world["a"]["store"])
        assert (store.name, store.retention_days, store.holdout_percent) == ("Acme Mugs & Co", 90, 10)
        assert (store.next_order_statuses, store.next_order_type, store.next_order_amount,
                store.next_order_minimum, store.next_order_valid_days, store.next_order_first_only,
                store.next_order_allow_chained) == ("completed,processing", "fixed", Decimal(5), Decimal(40), 14,
                                                    True, False)
        assert (store.woo_url, store.woo_consumer_key, store.woo_consumer_secret) == (
            "https://shop.acme.example", "ck_abc", "cs_def")  # a blank secret keeps the stored one
    settings = text(owner.get("/admin/settings/"))
    assert "cs_def" not in settings and 'id="woo-state" data-state="unchecked">not tested yet' in settings
    assert post(owner, "/admin/settings/woocommerce/disconnect", {}, token).status_code == 302
    with app.app_context():
        assert db.session.get(Store, world["a"]["store"]).woo_connected is False


def test_key_rotation_shows_the_new_key_once(world, app, client):
    owner = logged_in(app, world["users"]["owner"])
    shop = world["shop"]
    rotated = post(owner, "/admin/settings/rotate-key")
    assert rotated.status_code == 200 and rotated.headers["Cache-Control"] == "no-store"
    new_key = re.search(r'id="new-api-key"[^>]*>(rtf_[^<]+)<', text(rotated)).group(1)
    assert client.get("/api/v1/carts/c1", headers=shop.headers).status_code == 401
    assert client.get("/api/v1/carts/c1", headers={"Authorization": f"Bearer {new_key}"}).status_code == 200
    again = text(owner.get("/admin/settings/"))
    assert new_key not in again and 'id="new-api-key"' not in again and new_key[:10] in again


# --- customers: GDPR erase and export --------------------------------------------------------------------------------

def test_export_contains_the_customers_carts_orders_messages_and_consent(world, app):
    owner = logged_in(app, world["users"]["owner"])
    a = world["a"]
    response = owner.get(f"/admin/customers/{a['customer']}/export.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.data)
    assert data["customer"]["email"] == "carol@acme.example" and data["customer"]["phone"] == "+12125550123"
    assert [(e["channel"], e["granted"], e["source"]) for e in data["consent_events"]] == [
        ("email", True, "storefront"), ("sms", True, "storefront")]
    assert [c["token"] for c in data["carts"]] == ["c3"] and data["carts"][0]["items"][0]["name"] == "Red mug"
    assert len(data["messages"]) == 6 and any(m["status"] == "sent" and m["subject"] for m in data["messages"])
    assert data["coupons"][0]["code"] == f"SAVE{a['store']}ABC"
    alice = json.loads(owner.get(f"/admin/customers/{a['alice']}/export.json").data)
    assert [o["total"] for o in alice["orders"]] == ["36.9500"] and alice["carts"][0]["status"] == "recovered"


def test_gdpr_erase_removes_personal_data_and_cancels_pending_messages(world, app):
    owner = logged_in(app, world["users"]["owner"])
    a = world["a"]
    token = csrf_token(owner)
    unconfirmed = post(owner, f"/admin/customers/{a['customer']}/erase", {}, token)
    assert unconfirmed.status_code == 302
    with app.app_context():
        assert db.session.get(Customer, a["customer"]).email == "carol@acme.example"
    erased = post(owner, f"/admin/customers/{a['customer']}/erase", {"confirm": "yes"}, token,
                  follow_redirects=True)
    assert erased.status_code == 200 and 'id="erased-badge"' in text(erased) and "carol" not in text(erased).lower()
    with app.app_context():
        customer = db.session.get(Customer, a["customer"])
        assert (customer.email, customer.phone, customer.first_name, customer.last_name, customer.external_id) == (
            None, None, None, None, None)
        messages = db.session.scalars(sa.select(Message).where(Message.customer_id == customer.id)).all()
        assert not [m for m in messages if m.status in ("scheduled", "sending")]
        assert {m.status for m in messages} >= {"sent", "cancelled", "failed"}
        assert all(m.recipient is None and m.subject is None and m.body_html is None and m.body_text is None
                   for m in messages)
        assert db.session.get(Coupon, a["coupon"]).email is None
        assert db.session.scalar(sa.select(sa.func.count(ConsentEvent.id)).where(
            ConsentEvent.customer_id == customer.id)) == 2  # evidence without personal data
        cart = db.session.get(Cart, a["cart"])
        assert cart.status == "abandoned" and cart.reachable is False
        other = db.session.get(Customer, world["b"]["customer"])
        assert other.email == f"carol@{OTHER_DOMAIN}"  # the other store's Carol is someone else
    search = text(owner.get("/admin/customers/?q=carol"))
    assert f'data-customer-id="{a["customer"]}"' not in search


def test_gdpr_erase_reaches_test_sends_from_their_cart_and_bounce_reasons(world, app):
    """The audit's case: a marketer's test-send rendered from the shopper's cart, and a bounce quoting the address."""
    a = world["a"]
    marketer = logged_in(app, world["users"]["marketer"])
    sent = marketer.post("/admin/templates/test-send/email/abandoned_cart/step1",
                         headers={"X-CSRFToken": csrf_token(marketer), "X-Requested-With": "fetch"},
                         data={"to": "mkt-inbox@evil.test", "cart_token": "c3", "source":
                               "{% block subject %}Hello {{ customer.first_name }} {{ customer.email }}{% endblock %}"})
    assert sent.status_code == 200, sent.get_json()
    with app.app_context():
        bounced = db.session.get(Message, a["message"])
        bounced.error = "bounced: 550 5.1.1 <carol@acme.example>: Recipient address rejected"
        db.session.commit()
    owner = logged_in(app, world["users"]["owner"])
    erased = post(owner, f"/admin/customers/{a['customer']}/erase", {"confirm": "yes"}, csrf_token(owner))
    assert erased.status_code == 302
    with app.app_context():
        test = db.session.scalar(sa.select(Message).where(Message.kind == "test"))
        assert (test.customer_id, test.recipient, test.subject, test.body_html, test.body_text) == (
            a["customer"], None, None, None, None)
        assert db.session.get(Message, a["message"]).error is None
        assert db.session.get(Cart, a["cart"]).recovery_url is None
    timeline = text(owner.get(f"/admin/carts/{a['cart']}"))
    assert "Sent test-send email" in timeline and "mkt-inbox" not in timeline


def test_unsubscribe_and_sms_opt_out_from_the_admin(world, app):
    owner = logged_in(app, world["users"]["owner"])
    a = world["a"]
    token = csrf_token(owner)
    assert post(owner, f"/admin/customers/{a['customer']}/opt-out-sms", {}, token).status_code == 302
    with app.app_context():
        customer = db.session.get(Customer, a["customer"])
        assert customer.sms_opted_out_at == clock.now() and customer.sms_consent is False
        assert customer.consent_events[-1].source == f"admin:{world['users']['owner']}"
        sms = db.session.scalar(sa.select(Message).where(Message.customer_id == customer.id, Message.channel == "sms"))
        assert sms.status == "cancelled"
        assert db.session.scalar(sa.select(sa.func.count(Message.id)).where(
            Message.customer_id == customer.id, Message.status == "scheduled")) == 3
    assert post(owner, f"/admin/customers/{a['customer']}/unsubscribe", {}, token).status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Message.id)).where(
            Message.customer_id == a["customer"], Message.status == "scheduled")) == 0
    page = text(owner.get(f"/admin/customers/{a['customer']}"))
    assert "withdrawn" in page and f"admin:{world['users']['owner']}" in page


# --- messages, carts, orders, coupons -------------------------------------------------------------------------------

def test_retrying_a_failed_message(world, app):
    owner = logged_in(app, world["users"]["owner"])
    a = world["a"]
    token = csrf_token(owner)
    page = text(owner.get(f"/admin/messages/{a['failed_message']}"))
    assert 'id="retry-form"' in page and "550 mailbox unavailable" in page
    assert 'id="retry-form"' not in text(logged_in(app, world["users"]["marketer"]).get(
        f"/admin/messages/{a['failed_message']}"))
    assert post(owner, f"/admin/messages/{a['failed_message']}/retry", {}, token).status_code == 302
    with app.app_context():
        message = db.session.get(Message, a["failed_message"])
        assert (message.status, message.due_at, message.attempts) == ("scheduled", clock.now(), 0)
    again = post(owner, f"/admin/messages/{a['failed_message']}/retry", {}, token, follow_redirects=True)
    assert "Only failed messages can be retried" in text(again)
    assert 'data-status="failed"' not in text(owner.get("/admin/messages/?status=failed"))


def test_message_page_shows_the_content_as_sent_without_counting_an_open(world, app):
    owner = logged_in(app, world["users"]["owner"])
    page = text(owner.get(f"/admin/messages/{world['a']['message']}"))
    assert '<iframe id="message-html"' in page and 'sandbox=""' in page
    assert "Carol, you left something behind" in page and 'id="message-text"' in page
    assert "/o/" not in page.split('id="message-html"')[1].split("</iframe>")[0]
    with app.app_context():
        assert db.session.get(Message, world["a"]["message"]).opened_at is None


def test_message_filters(world, app):
    owner = logged_in(app, world["users"]["owner"])
    failed = text(owner.get("/admin/messages/?status=failed"))
    assert f'data-message-id="{world["a"]["failed_message"]}"' in failed and 'data-status="scheduled"' not in failed
    sms = text(owner.get("/admin/messages/?channel=sms"))
    assert 'data-channel="email"' not in sms and 'data-channel="sms"' in sms
    assert 'data-message-id' in text(owner.get("/admin/messages/?kind=next_order"))


def test_cart_filters_search_and_timeline(world, app):
    owner = logged_in(app, world["users"]["owner"])
    a = world["a"]
    abandoned = text(owner.get("/admin/carts/?status=abandoned"))
    assert abandoned.count("data-cart-id=") == 2 and 'data-status="recovered"' not in abandoned
    assert text(owner.get("/admin/carts/?status=recovered")).count("data-cart-id=") == 1
    assert text(owner.get("/admin/carts/?status=guest")).count("data-cart-id=") == 2  # alice and the anonymous one
    assert text(owner.get("/admin/carts/?q=CAROL")).count("data-cart-id=") == 1
    assert text(owner.get("/admin/carts/?q=555-0123")).count("data-cart-id=") == 1
    assert text(owner.get("/admin/carts/?q=%25")).count("data-cart-id=") == 0  # LIKE wildcards are escaped
    cart = text(owner.get(f"/admin/carts/{a['cart']}"))
    events = re.findall(r'data-event="(\w+)"', cart)
    assert events[:3] == ["created", "abandoned", "planned"] and {"sent", "failed", "scheduled"} <= set(events)
    assert 'id="cart-items"' in cart and "Red mug" in cart and "carol@acme.example" in cart
    recovered = text(owner.get(f"/admin/carts/{a['recovered_cart']}"))
    assert "ordered" in re.findall(r'data-event="(\w+)"', recovered) and 'id="cart-order"' in recovered


def test_orders_and_coupons(world, app):
    owner = logged_in(app, world["users"]["owner"])
    a = world["a"]
    recovered = text(owner.get("/admin/orders/?recovered=yes"))
    assert 'data-recovered="yes"' in recovered and 'data-recovered="no"' not in recovered
    assert 'data-order-id' not in text(owner.get("/admin/orders/?recovered=no"))
    order = text(owner.get(f"/admin/orders/{a['order']}"))
    assert 'id="order-recovered"' in order and "last_sent" in order
    coupons = text(owner.get("/admin/coupons/?kind=recovery&state=active&sync=not_connected"))
    assert f"SAVE{a['store']}ABC" in coupons
    assert f"SAVE{a['store']}ABC" not in text(owner.get("/admin/coupons/?state=redeemed"))
    assert "10%" in text(owner.get(f"/admin/coupons/{a['coupon']}"))


# --- sequence -------------------------------------------------------------------------------------------------------

def test_sequence_edits_keep_the_steps_in_order(world, app):
    owner = logged_in(app, world["users"]["owner"])
    token = csrf_token(owner)

    def step(position):
        with app.app_context():
            return db.session.scalar(sa.select(Step).where(Step.store_id == world["a"]["store"],
                                                           Step.position == position,
                                                           Step.sequence.has(kind="abandoned_cart")))

    changed = post(owner, "/admin/sequence/step/2", {"delay_value": "8", "delay_unit": "hours", "email": "1",
                                                     "sms": "1", "enabled": "1", "coupon_type": "fixed",
                                                     "coupon_amount": "5", "coupon_valid_hours": "24"}, token)
    assert changed.status_code == 302
    two = step(2)
    assert (two.delay_minutes, two.email, two.sms, two.coupon_type, two.coupon_amount, two.coupon_valid_hours) == (
        480, True, True, "fixed", Decimal(5), 24)
    out_of_order = post(owner, "/admin/sequence/step/3", {"delay_value": "1", "delay_unit": "hours", "email": "1",
                                                          "enabled": "1"}, token)
    assert out_of_order.status_code == 400 and "previous step" in text(out_of_order)
    refused_row = text(out_of_order).split('id="step-3"')[1].split("</tr>")[0]  # what was typed, the field marked
    assert 'rt-w-6 is-invalid" value="1"' in refused_row and '<option value="hours" selected>' in refused_row
    assert step(3).delay_minutes == 2 * 1440
    bad_coupon = post(owner, "/admin/sequence/step/3", {"delay_value": "2", "delay_unit": "days", "email": "1",
                                                        "enabled": "0", "coupon_type": "percent",
                                                        "coupon_amount": "150"}, token)
    assert bad_coupon.status_code == 400 and step(3).enabled  # nothing of the refused edit was kept
    assert post(owner, "/admin/sequence/step/5/toggle", {}, token).status_code == 302
    assert step(5).enabled is False
    assert post(owner, "/admin/sequence/step/5/toggle", {"enabled": "1"}, token).status_code == 302
    assert step(5).enabled is True
    no_coupon = post(owner, "/admin/sequence/step/2", {"delay_value": "8", "delay_unit": "hours", "email": "1",
                                                       "enabled": "1", "coupon_type": ""}, token)
    assert no_coupon.status_code == 302 and step(2).coupon_type is None and step(2).sms is False
    assert post(owner, "/admin/sequence/step/9/toggle", {}, token).status_code == 400


# --- dashboard, reports, charts -------------------------------------------------------------------------------------

def test_dashboard_and_reports(world, app):
    marketer = logged_in(app, world["users"]["marketer"])
    home = text(marketer.get("/admin/"))
    for marker in ('id="stat-abandoned"', 'id="stat-reachable"', 'id="stat-messages-sent"', 'id="stat-recovered"',
                   'id="stat-recovered-revenue"', 'id="stat-recovery-rate"', '<figure class="rt-chart mb-0" id="daily-chart"',
                   'id="before-after-chart"', 'vendor/chartjs/chart.umd.js', 'charts.js',
                   'id="before-after"', 'href="/admin/carts/?status=abandoned"', "$36.95", "50.0%"):
        assert marker in home, marker
    report = marketer.get("/admin/reports/?days=7")
    page = text(report)
    assert report.status_code == 200 and 'data-points="7"' in page and 'id="revenue-chart"' in page
    assert 'id="funnel-table"' in page and 'data-step="1" data-channel="email"' in page
    for chart_id in ("daily-chart", "revenue-chart", "funnel-chart", "automations-chart", "before-after-chart"):
        assert page.count(f'id="{chart_id}"') == 1, chart_id
    # The charts and the summary come first; the day table is folded away and lists only days with activity.
    assert page.index('id="report-summary"') < page.index('id="daily-chart"') < page.index('id="daily-figures"')
    quiet = text(marketer.get("/admin/reports/?from=2026-02-01&to=2026-02-10"))
    assert quiet.count('data-date="') == 0 and "0 days with activity of 10" in quiet
    busy = text(marketer.get("/admin/reports/?from=2026-02-20&to=2026-03-05"))
    assert 0 < busy.count('data-date="') < 14 and 'data-date="2026-03-02"' in busy
    refused = marketer.get("/admin/reports/?from=2026-03-05&to=2026-03-01")
    assert refused.status_code == 400 and 'id="period-error"' in text(refused)
    assert "From: Must not be after 'to'." in unescape(text(refused))  # in words, the field marked
    assert 'id="from" name="from" type="date" class="form-control form-control-sm mr-1 is-invalid"' in text(refused)
    csv = marketer.get("/admin/reports/daily.csv?from=2026-03-01&to=2026-03-02")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    lines = text(csv).strip().splitlines()
    assert lines[0].startswith("date,") and lines[-1].startswith("2026-03-02,3,3,")
    assert marketer.get("/admin/reports/daily.csv?days=0").status_code == 400


def test_chart_data_has_both_series_money_as_numbers_and_a_table_of_the_days_with_figures(app, make_store):
    with app.test_request_context():  # money is formatted like the pages do (no one logged in: en_US)
        store = db.session.get(Store, make_store().store_id)
        store.currency, store.locale = "EUR", "de_DE"
        rows = [{"date": f"2026-03-{day:02d}", "revenue": Decimal("12.50") * (day % 2),
                 "recovered_revenue": Decimal("0.0000")} for day in range(1, 5)]
        chart = charts.chart("revenue-chart", "Revenue <b>", rows, charts.REVENUE, store)
    assert chart["labels"] == ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]
    revenue, recovered = chart["datasets"]
    assert revenue["data"] == [12.5, 0.0, 12.5, 0.0] and revenue["kind"] == "bar" and revenue["axis"] == "money"
    assert recovered["kind"] == "line" and recovered["colour"] != revenue["colour"]
    assert chart["currency"] == "EUR" and chart["locale"] == "de-DE"
    assert chart["table"] == [("2026-03-01", ["€12.50", "€0.00"]), ("2026-03-03", ["€12.50", "€0.00"])]
    assert chart["summary"] == "Revenue <b>. Revenue: €25.00 in total; Recovered revenue: €0.00 in total."
    with app.test_request_context():
        empty = charts.chart("x", "Carts", [], charts.ABANDONED_VS_RECOVERED, store, table_id="daily-table")
    assert empty["table"] is None and empty["summary"] == "Carts: nothing in this period."


# --- CLI ------------------------------------------------------------------------------------------------------------

def test_create_user_reads_the_password_from_the_environment_or_asks(runner, app, shop, monkeypatch):
    monkeypatch.setenv("RETAINFUL_USER_PASSWORD", PASSWORD)
    made = runner.invoke(args=["create-user", "--email", "Mark@Acme.test", "--role", "marketer",
                               "--store", str(shop.store_id)])
    assert made.exit_code == 0, made.output
    assert "Created marketer mark@acme.test" in made.output and f"store {shop.store_id}" in made.output
    duplicate = runner.invoke(args=["create-user", "--email", "mark@acme.test", "--role", "owner",
                                    "--store", str(shop.store_id)])
    assert duplicate.exit_code != 0 and "exists already" in duplicate.output
    assert runner.invoke(args=["create-user", "--email", "o@acme.test", "--role", "owner"]).exit_code != 0
    assert "no store with id 999" in runner.invoke(args=["create-user", "--email", "o@acme.test", "--role", "owner",
                                                         "--store", "999"]).output
    assert runner.invoke(args=["create-user", "--email", "x@acme.test", "--role", "king"]).exit_code != 0
    monkeypatch.delenv("RETAINFUL_USER_PASSWORD")
    short = runner.invoke(args=["create-user", "--email", "a@acme.test", "--role", "admin"], input="short\nshort\n")
    assert short.exit_code != 0 and "at least 8 characters" in short.output
    asked = runner.invoke(args=["create-user", "--email", "a@acme.test", "--role", "admin"],
                          input=f"{PASSWORD}\n{PASSWORD}\n")
    assert asked.exit_code == 0 and "every store" in asked.output, asked.output
    with app.app_context():
        assert users.authenticate("MARK@acme.test", PASSWORD).role == "marketer"
        assert users.authenticate("a@acme.test", PASSWORD).role == "admin"


def test_demo_store_creates_an_owner_and_prints_the_login_every_time(runner, app, tmp_path):
    app.instance_path = str(tmp_path)
    first = runner.invoke(args=["demo-store"])
    assert first.exit_code == 0, first.output
    login = re.search(r"Demo owner login at \S+/admin: owner@example.com / (\S+)", first.output)
    assert login and "Created demo store" in first.output
    password = login.group(1)
    again = runner.invoke(args=["demo-store"])
    assert f"owner@example.com / {password}" in again.output and "Created" not in again.output
    stored = json.loads((tmp_path / "demo-store.json").read_text())
    assert stored["owner_password"] == password and stored["api_key"] in again.output
    with app.app_context():
        owner = users.authenticate("owner@example.com", password)
        assert owner.role == "owner" and [s.id for s in owner.stores] == [stored["id"]]


# --- the domain functions behind the admin ---------------------------------------------------------------------

def test_user_rules_roles_and_store_visibility(app, make_store):
    a, b = make_store(), make_store(name="B", domain="b.example")
    for email, role, stores, message in (("not-an-email", Role.OWNER, [a.store_id], "not an email address"),
                                         ("x@acme.test", "king", [a.store_id], "role must be"),
                                         ("x@acme.test", Role.OWNER, [a.store_id], "at least 8"),
                                         ("x@acme.test", Role.MARKETER, [], "needs at least one store"),
                                         ("x@acme.test", Role.OWNER, [a.store_id, 404], "no store with id 404")):
        with app.app_context(), pytest.raises(users.UserError, match=message):
            users.create_user(email, "short" if "8" in message else PASSWORD, role, stores)
    admin = add_user(app, "admin@retainful.test", Role.ADMIN)
    owner = add_user(app, "owner@acme.test", Role.OWNER, [a.store_id])
    marketer = add_user(app, "marketer@acme.test", Role.MARKETER, [a.store_id])
    with app.app_context():
        admin, owner, marketer = (db.session.get(User, i) for i in (admin, owner, marketer))
        assert users.can(owner, users.MANAGE) and users.can(admin, users.MANAGE)
        assert not users.can(marketer, users.MANAGE) and users.can(marketer, users.TEMPLATES)
        assert users.can(marketer, users.REPORTS) and users.can(marketer, users.READ)
        assert [s.id for s in users.visible_stores(admin)] == [a.store_id, b.store_id]
        assert [s.id for s in users.visible_stores(marketer)] == [a.store_id]
        assert users.may_see_store(admin, b.store_id) and not users.may_see_store(admin, 999)
        assert users.may_see_store(owner, a.store_id) and not users.may_see_store(owner, b.store_id)
        assert users.find_user(" OWNER@acme.test ").id == owner.id and users.find_user("nope") is None


def test_a_retried_message_goes_out_with_the_next_dispatch(world, app):
    from retainful.errors import FieldError
    from retainful.messaging.retry import retry_message

    a = world["a"]
    with app.app_context():
        with pytest.raises(FieldError, match="Only failed messages"):
            retry_message(db.session.get(Message, a["message"]))
        test_message = Message(store_id=a["store"], kind="test", channel="email", status="failed",
                               due_at=clock.now(), recipient="me@example.com")
        db.session.add(test_message)
        db.session.commit()
        with pytest.raises(FieldError, match="test-send"):
            retry_message(test_message)
        retried = retry_message(db.session.get(Message, a["failed_message"]))
        assert (retried.status, retried.attempts, retried.due_at) == ("scheduled", 0, clock.now())
    run_jobs(app)
    with app.app_context():
        message = db.session.get(Message, a["failed_message"])
        assert message.status == "sent" and message.recipient == "carol@acme.example"


def test_store_options_refuse_bad_values_and_change_nothing(app, shop):
    from retainful.stores import StoreSettingsError, options

    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        for bad in (-1, 51, True, "10"):
            with pytest.raises(StoreSettingsError, match="holdout_percent"):
                options.set_holdout(store, bad)
        rule = dict(enabled=True, statuses="completed", discount_type="percent", amount="10", valid_days=30)
        for change, field in (({"statuses": " , "}, "next_order_statuses"),
                              ({"statuses": "done; drop"}, "next_order_statuses"),
                              ({"discount_type": "bogus"}, "next_order_type"),
                              ({"amount": "0"}, "next_order_amount"),
                              ({"amount": "abc"}, "next_order_amount"),
                              ({"valid_days": 0}, "next_order_valid_days"),
                              ({"minimum": "-5"}, "next_order_minimum")):
            with pytest.raises(StoreSettingsError, match=field):
                options.update_next_order_rule(store, **{**rule, **change})
        options.update_next_order_rule(store, **{**rule, "discount_type": "free_shipping", "amount": None})
        assert (store.next_order_type, store.next_order_amount) == ("free_shipping", Decimal(0))
        for url in ("ftp://shop.example", "https://shop.example/?a=1", "http://shop.example", "shop.example"):
            with pytest.raises(StoreSettingsError, match="woo_url"):
                options.connect_woocommerce(store, url, "ck", "cs")
        with pytest.raises(StoreSettingsError, match="woo_consumer_secret"):
            options.connect_woocommerce(store, "https://shop.example", "ck", None)
        assert store.woo_url is None
        with pytest.raises(StoreSettingsError, match="woo_url: must use https"):
            options.connect_woocommerce(store, "http://127.0.0.1:8080/", "ck", "cs")
        app.config["ALLOW_PRIVATE_SHOP_URLS"] = True  # tests and local development: a local stub may use http
        options.connect_woocommerce(store, "http://127.0.0.1:8080/", "ck", "cs")
        assert store.woo_url == "http://127.0.0.1:8080" and store.woo_connected


@pytest.mark.parametrize("url", ["https://169.254.169.254", "https://10.0.0.5:8443", "https://[::1]",
                                 "https://metadata.google.internal", "http://127.0.0.1:5432", "http://localhost:6379",
                                 "https://rebind.example", "https://[fd00::1]", "https://2130706433"])
def test_the_woocommerce_form_refuses_shop_urls_that_are_not_public_https(world, app, shop_dns, url):
    """Audit F3: each of these was saved, and the jobs then sent the shop's keys there and showed the reply."""
    shop_dns.update({"metadata.google.internal": ["169.254.169.254"], "rebind.example": ["93.184.215.14", "10.0.0.5"],
                     "2130706433": ["127.0.0.1"]})
    owner = logged_in(app, world["users"]["owner"])
    answer = post(owner, "/admin/settings/woocommerce", {"woo_url": url, "woo_consumer_key": "ck_test",
                                                         "woo_consumer_secret": "cs_test"}, csrf_token(owner))
    assert answer.status_code == 400 and 'id="woo_url-error"' in text(answer)  # the error at the field
    with app.app_context():
        assert db.session.get(Store, world["a"]["store"]).woo_url is None


def test_a_form_rendered_for_one_store_is_not_applied_to_another(world, app):
    a, b = world["a"], world["b"]
    with app.app_context():
        user = db.session.get(User, world["users"]["owner"])
        user.stores.append(db.session.get(Store, b["store"]))
        db.session.commit()
    owner = logged_in(app, world["users"]["owner"])
    page = text(owner.get("/admin/settings/"))
    assert f'name="store_guard" value="{a["store"]}"' in page
    token = csrf_token(owner)
    post(owner, "/admin/store", {"store_id": b["store"]}, token)  # switched in another tab
    stale = post(owner, "/admin/settings/holdout", {"holdout_percent": "20", "store_guard": a["store"]}, token)
    assert stale.status_code == 409 and 'id="store-changed"' in text(stale)
    assert 'id="error-page" data-status="409"' in text(stale)  # the error page in the frame, with a way back
    fetch = owner.post("/admin/templates/preview/sms/abandoned_cart/step1",
                       headers={"X-CSRFToken": token, "X-Requested-With": "fetch"},
                       data={"store_guard": a["store"]})
    assert fetch.status_code == 409 and "switched" in fetch.get_json()["error"]["message"]
    assert post(owner, "/admin/settings/holdout", {"holdout_percent": "20", "store_guard": b["store"]},
                token).status_code == 302
    with app.app_context():
        assert db.session.get(Store, a["store"]).holdout_percent == 0
        assert db.session.get(Store, b["store"]).holdout_percent == 20


def test_settings_show_the_retainful_plugin_credentials_to_the_stores_owner(world, app):
    with app.app_context():
        a, b = (db.session.get(Store, world[key]["store"]) for key in ("a", "b"))
        mine, theirs = (a.retainful_app_id, a.retainful_secret_key), (b.retainful_app_id, b.retainful_secret_key)
    owner = logged_in(app, world["users"]["owner"])
    response = owner.get("/admin/settings/")
    page = text(response)
    assert f'id="retainful-app-id" class="form-control text-monospace" value="{mine[0]}"' in page
    assert f'id="retainful-secret-key" class="form-control text-monospace" value="{mine[1]}"' in page
    assert 'data-copy="#retainful-secret-key"' in page and "RETAINFUL_SELF_HOSTED_URL" in page
    assert theirs[0] not in page and theirs[1] not in page
    assert response.headers["Cache-Control"] == "no-store"  # the secret stays out of the browser's cache
    marketer = logged_in(app, world["users"]["marketer"])
    assert mine[1] not in text(marketer.get("/admin/settings/"))
