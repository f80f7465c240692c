"""Orders credited to recovery, recovery and next-order coupons, checks and single redemption."""
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from retainful import clock
from retainful.coupons.codes import ALPHABET, new_code
from retainful.extensions import db
from retainful.models import Coupon, Message, Store
from retainful.automations import update_step
from tests.conftest import T0, cart_body
from tests.test_recovery_sequence import at, sent, walk

STEPS = [timedelta(minutes=30), timedelta(hours=6), timedelta(days=2), timedelta(days=4), timedelta(days=7)]


def order(shop, **overrides):
    body = {"order_id": "5001", "total": "36.95", "currency": "USD", "status": "processing"}
    body.update(overrides)
    response = shop.post_order(body)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def email_cart(shop, token="c", email="alice@example.com"):
    shop.put_cart(token, cart_body(customer={"email": email, "first_name": "Alice"}))


# --- attribution ---------------------------------------------------------------------------------------------------

def test_order_after_a_message_is_recovered_and_credited_to_the_last_sent(shop, app):
    email_cart(shop)
    walk(app, timedelta(minutes=30), timedelta(hours=6))
    clock.freeze(T0 + timedelta(hours=7))
    placed = order(shop, cart_token="c")
    assert placed["cart_status"] == "recovered" and placed["recovered"] is True
    assert placed["attribution_rule"] == "last_sent"
    assert placed["attributed_message_id"] == sent(app, channel="email")[-1].id


def test_the_last_clicked_message_gets_the_credit(shop, app, client):
    email_cart(shop)
    walk(app, timedelta(minutes=30), timedelta(hours=6))
    step1 = sent(app, channel="email")[0]
    clock.freeze(T0 + timedelta(hours=6, minutes=30))
    client.get(f"/r/{step1.link_code}")
    clock.freeze(T0 + timedelta(hours=7))
    placed = order(shop, cart_token="c")
    assert (placed["attributed_message_id"], placed["attribution_rule"]) == (step1.id, "clicked")


def test_order_by_the_same_customer_without_token_is_recovered(shop, app):
    email_cart(shop)
    at(app, timedelta(minutes=30))
    clock.freeze(T0 + timedelta(hours=1))
    placed = order(shop, customer={"email": "alice@example.com"})
    assert placed["cart_token"] == "c" and placed["cart_status"] == "recovered"


def test_order_before_any_message_is_converted(shop, app):
    email_cart(shop)
    at(app, timedelta(minutes=20))  # abandoned, nothing sent yet
    placed = order(shop, cart_token="c")
    assert placed["cart_status"] == "converted" and placed["recovered"] is False


def test_order_after_the_window_is_converted(shop, app):
    email_cart(shop)
    walk(app, *STEPS)
    clock.freeze(T0 + STEPS[-1] + timedelta(days=7, minutes=1))
    placed = order(shop, cart_token="c")
    assert (placed["cart_status"], placed["attribution_rule"]) == ("converted", "outside_window")


def test_order_inside_the_window_recovers_even_a_lost_cart(shop, app):
    email_cart(shop)
    walk(app, *STEPS, STEPS[-1] + timedelta(days=2))
    assert shop.get_cart("c").get_json()["status"] == "lost"
    placed = order(shop, customer={"email": "alice@example.com"})
    assert placed["cart_status"] == "recovered"


def test_refund_takes_back_recovered_revenue(shop, app):
    email_cart(shop)
    at(app, timedelta(minutes=30))
    order(shop, cart_token="c")
    refunded = order(shop, status="refunded")
    assert refunded["status"] == "refunded"
    from retainful.reports import recovered_revenue
    with app.app_context():
        assert recovered_revenue(db.session.get(Store, shop.store_id)) == 0


# --- recovery coupons ----------------------------------------------------------------------------------------------

def test_recovery_coupon_is_minted_at_the_2_day_send_and_reused_by_later_steps(shop, app):
    with app.app_context():
        update_step(db.session.get(Store, shop.store_id), 4, coupon_type="percent", coupon_amount=Decimal(10))
    email_cart(shop)
    walk(app, *STEPS[:2])
    with app.app_context():
        assert db.session.query(Coupon).count() == 0  # not minted when planned
    walk(app, *STEPS[2:4])
    with app.app_context():
        (coupon,) = db.session.query(Coupon).all()
        assert re.fullmatch(r"RT-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}", coupon.code)
        assert coupon.email == "alice@example.com" and coupon.amount == 10
        assert coupon.expires_at == T0 + STEPS[2] + timedelta(hours=48)
    step3, step4 = sent(app, channel="email")[2:4]
    assert coupon.code in step3.body_html and coupon.code in step4.body_html
    assert "10% off" in step3.body_text


def test_a_cancelled_sequence_leaves_no_coupon(shop, app):
    email_cart(shop)
    walk(app, *STEPS[:2])
    clock.freeze(T0 + timedelta(days=1))
    order(shop, cart_token="c")
    walk(app, *STEPS[2:])
    with app.app_context():
        assert db.session.query(Coupon).filter_by(kind="recovery").count() == 0


def test_codes_are_unique_readable_and_use_no_look_alikes():
    codes = {new_code() for _ in range(100_000)}
    assert len(codes) == 100_000
    assert not set("".join(codes)) - set(ALPHABET) - {"R", "T", "-"}
    assert not set("01OIL") & set(ALPHABET)


# --- checks and redemption -----------------------------------------------------------------------------------------

def make_coupon(app, shop, **overrides):
    values = dict(store_id=shop.store_id, code="RT-TEST-2345", kind="recovery", discount_type="percent",
                  amount=Decimal(10), currency="USD", expires_at=T0 + timedelta(days=2), email="alice@example.com",
                  minimum_total=Decimal("20.00"))
    values.update(overrides)
    with app.app_context():
        db.session.add(Coupon(**values))
        db.session.commit()


def check(shop, code="RT-TEST-2345", **params):
    return shop.client.get(f"/api/v1/coupons/{code}", headers=shop.headers, query_string=params)


def test_check_gives_the_discount_or_the_reason(app, shop):
    make_coupon(app, shop)
    ok = check(shop, email="Alice@Example.com", subtotal="36.95").get_json()
    assert (ok["valid"], ok["reason"], ok["discount"]) == (True, None, "3.70")
    assert check(shop, "rt-test-2345", email="alice@example.com", subtotal="50").get_json()["discount"] == "5.00"
    assert check(shop, email="eve@example.com", subtotal="50").get_json()["reason"] == "wrong_customer"
    assert check(shop, email="alice@example.com", subtotal="10").get_json()["reason"] == "below_minimum"
    clock.freeze(T0 + timedelta(days=2))
    assert check(shop, email="alice@example.com", subtotal="50").get_json()["reason"] == "expired"
    assert check(shop, "RT-NOPE-2345").status_code == 404
    assert check(shop, subtotal="lots").status_code == 400


def check_by_body(shop, code="RT-TEST-2345", **body):
    return shop.client.post(f"/api/v1/coupons/{code}/check", headers=shop.headers, json=body)


def test_check_by_post_answers_as_the_get_with_the_email_out_of_the_url(app, shop):
    make_coupon(app, shop)
    for params in ({"email": "Alice@Example.com", "subtotal": "36.95"}, {"email": "eve@example.com", "subtotal": "50"},
                   {"email": "alice@example.com", "subtotal": "10"}, {}, {"subtotal": "lots"}):
        by_get, by_post = check(shop, **params), check_by_body(shop, **params)
        assert (by_post.status_code, by_post.get_json()) == (by_get.status_code, by_get.get_json())
    assert check_by_body(shop, email="alice@example.com", subtotal=36.95).get_json()["discount"] == "3.70"
    assert check_by_body(shop, "rt-test-2345", email="alice@example.com").get_json()["valid"] is True
    assert check_by_body(shop, "RT-NOPE-2345", email="alice@example.com").status_code == 404


@pytest.mark.parametrize("body, field", [
    ({"email": 5}, "email"), ({"email": ["alice@example.com"]}, "email"), ({"email": "a" * 255}, "email"),
    ({"subtotal": True}, "subtotal"), ({"subtotal": {"amount": 5}}, "subtotal"), ({"subtotal": "-1"}, "subtotal"),
    ({"subtotal": "1e999"}, "subtotal"), ({"subtotal": 10 ** 30}, "subtotal"), ({"subtotal": "NaN"}, "subtotal"),
])
def test_check_by_post_refuses_bad_fields_naming_them(app, shop, body, field):
    make_coupon(app, shop)
    response = check_by_body(shop, **body)
    assert response.status_code == 400 and field in response.get_json()["error"]["fields"]


def test_check_by_post_hostile_bodies_and_paths(app, make_store):
    shop, other = make_store(), make_store(name="Other", domain="other.example")
    make_coupon(app, shop)
    url, headers = "/api/v1/coupons/RT-TEST-2345/check", {**shop.headers, "Content-Type": "application/json"}
    assert shop.client.post(url, headers=headers, data=b"[1, 2]").status_code == 400
    assert shop.client.post(url, headers=shop.headers, data="email=alice@example.com").status_code == 415
    assert shop.client.post(url, headers=headers, data=b'{"email": ').status_code in (400, 415)
    huge = b'{"email": "' + b"a" * 300_000 + b'"}'
    assert shop.client.post(url, headers=headers, data=huge).status_code == 413
    for raw in (rb'{"email": "alice\u0000@example.com"}', rb'{"email": "\ud800alice@example.com"}'):
        response = shop.client.post(url, headers=headers, data=raw)  # refused, or not this shopper: never a 500
        assert response.status_code in (200, 400), response.get_data()
        assert response.status_code == 400 or response.get_json()["valid"] is False
    nul = shop.client.post("/api/v1/coupons/RT-TEST%002345/check", headers=shop.headers, json={})
    assert nul.status_code == 400 and "code" in nul.get_json()["error"]["fields"]  # a NUL in any path segment
    for code in ("%ED%A0%80", "RT-" + "X" * 5000):
        assert shop.client.post(f"/api/v1/coupons/{code}/check", headers=shop.headers, json={}).status_code == 404
    assert check_by_body(other, email="alice@example.com").status_code == 404  # another store's coupon
    assert shop.client.post(url, json={"email": "alice@example.com"}).status_code == 401
    assert shop.client.post(url, json={}, headers={"Authorization": "Bearer rtf_forged"}).status_code == 401


def test_fixed_and_free_shipping_discounts(app, shop):
    make_coupon(app, shop, code="RT-FIXD-2345", discount_type="fixed", amount=Decimal(5), minimum_total=None)
    make_coupon(app, shop, code="RT-SHIP-2345", discount_type="free_shipping", amount=Decimal(0))
    fixed = check(shop, "RT-FIXD-2345", email="alice@example.com", subtotal="3.00").get_json()
    assert fixed["discount"] == "3.00"  # never more than the cart
    ship = check(shop, "RT-SHIP-2345", email="alice@example.com", subtotal="30").get_json()
    assert ship["free_shipping"] is True and ship["discount"] == "0.00"


def redeem(client, headers, order_id, code="RT-TEST-2345", email="alice@example.com"):
    return client.post(f"/api/v1/coupons/{code}/redeem", headers=headers, json={"order_id": order_id,
                                                                                  "email": email})


def test_redeem_once_repeat_is_idempotent_second_order_conflicts(app, shop):
    make_coupon(app, shop)
    first = redeem(shop.client, shop.headers, "o-1")
    assert first.status_code == 201 and first.get_json()["coupon"]["usage_count"] == 1
    assert redeem(shop.client, shop.headers, "o-1").status_code == 200
    second = redeem(shop.client, shop.headers, "o-2")
    assert second.status_code == 409 and second.get_json()["error"]["code"] == "used_up"
    assert redeem(shop.client, shop.headers, "o-3", email="eve@example.com").status_code == 409


def test_another_store_cannot_see_or_redeem_my_coupon(app, make_store):
    mine, theirs = make_store(), make_store(name="Other", domain="other.example")
    make_coupon(app, mine)
    assert check(theirs, email="alice@example.com").status_code == 404
    assert redeem(theirs.client, theirs.headers, "o-1").status_code == 404


def test_concurrent_redemptions_of_a_single_use_coupon_one_wins(app, shop):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("row-level races are PostgreSQL's; SQLite serialises writers")
    make_coupon(app, shop)

    def attempt(i):
        return redeem(app.test_client(), shop.headers, f"race-{i}").status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(attempt, range(8)))
    assert sorted(codes) == [201] + [409] * 7
    with app.app_context():
        assert db.session.scalar(sa.select(Coupon.usage_count)) == 1


# --- next-order coupons --------------------------------------------------------------------------------------------

def next_order_coupons(app):
    with app.app_context():
        return db.session.query(Coupon).filter_by(kind="next_order").all()


def test_a_qualifying_order_earns_a_next_order_coupon_delivered_by_email(shop, app):
    order(shop, customer={"email": "bob@example.com", "first_name": "Bob"})
    (coupon,) = next_order_coupons(app)
    assert (coupon.discount_type, coupon.amount, coupon.usage_limit) == ("percent", 20, 1)
    assert coupon.email == "bob@example.com" and coupon.expires_at == T0 + timedelta(days=30)
    at(app, timedelta(0))
    (email,) = sent(app, kind="next_order")
    assert email.recipient == "bob@example.com" and coupon.code in email.body_html and "20% off" in email.body_text
    order(shop)  # the same order again: no second coupon
    assert len(next_order_coupons(app)) == 1


def test_pending_orders_earn_when_they_reach_a_counted_status(shop, app):
    order(shop, status="pending", customer={"email": "bob@example.com"})
    assert next_order_coupons(app) == []
    order(shop, status="completed")
    assert len(next_order_coupons(app)) == 1


def test_next_order_rule_minimum_first_only_and_chaining(shop, app):
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        store.next_order_minimum, store.next_order_first_only = Decimal("50"), True
        db.session.commit()
    order(shop, order_id="small", total="20", customer={"email": "bob@example.com"})
    assert next_order_coupons(app) == []  # below the minimum
    clock.advance(timedelta(hours=1))
    order(shop, order_id="big", total="80", customer={"email": "bob@example.com"})
    assert next_order_coupons(app) == []  # not the first order
    order(shop, order_id="first", total="80", customer={"email": "carol@example.com"})
    (coupon,) = next_order_coupons(app)
    clock.advance(timedelta(hours=1))
    order(shop, order_id="chained", total="90", coupon_codes=[coupon.code.lower()],
          customer={"email": "dave@example.com"})
    assert len(next_order_coupons(app)) == 1  # paid with a next-order coupon: no chain by default
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        store.next_order_allow_chained = True
        db.session.commit()
    order(shop, order_id="chained-2", total="90", coupon_codes=[coupon.code], customer={"email": "erin@example.com"})
    assert len(next_order_coupons(app)) == 2  # the store allows chaining


def test_next_order_sms_only_with_consent(shop, app):
    order(shop, customer={"email": "bob@example.com", "phone": "+12125550123", "sms_consent": True})
    with app.app_context():
        channels = sorted(m.channel for m in db.session.query(Message).filter_by(kind="next_order"))
    assert channels == ["email", "sms"]
