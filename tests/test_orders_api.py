"""Order intake: idempotent, closes the right cart, remembers the customer's last order."""
from datetime import datetime, timedelta, timezone

from retainful import clock
from retainful.extensions import db
from retainful.models import Customer, Order
from tests.conftest import T0, cart_body


def order_body(**overrides):
    body = {"order_id": "1001", "total": "36.95", "currency": "USD", "status": "processing"}
    body.update(overrides)
    return body


def test_order_closes_its_cart_by_token(shop):
    shop.put_cart("t1", cart_body())
    response = shop.post_order(order_body(cart_token="t1", coupon_codes=["SAVE10"]))
    assert response.status_code == 201
    order = response.get_json()
    assert order["order_id"] == "1001"
    assert order["cart_token"] == "t1"
    assert order["cart_status"] == "converted"
    assert order["coupon_codes"] == ["SAVE10"]
    assert shop.get_cart("t1").get_json()["status"] == "converted"


def test_repeat_order_is_200_and_changes_nothing(shop, app):
    shop.put_cart("t1", cart_body())
    first = shop.post_order(order_body(cart_token="t1"))
    clock.advance(timedelta(minutes=5))
    repeat = shop.post_order(order_body(cart_token="t1", total="999.00"))
    assert repeat.status_code == 200
    assert repeat.get_json() == first.get_json()
    with app.app_context():
        assert db.session.query(Order).count() == 1


def test_a_later_status_is_applied(shop):
    shop.post_order(order_body(status="pending"))
    updated = shop.post_order(order_body(status="wc-refunded"))
    assert updated.status_code == 200 and updated.get_json()["status"] == "refunded"


def test_order_without_token_closes_the_customers_latest_open_cart(shop):
    shop.put_cart("older", cart_body())
    clock.advance(timedelta(minutes=1))
    shop.put_cart("newer", cart_body())
    response = shop.post_order(order_body(customer={"email": "ALICE@example.com"}))
    assert response.get_json()["cart_token"] == "newer"
    assert shop.get_cart("newer").get_json()["status"] == "converted"
    assert shop.get_cart("older").get_json()["status"] == "live"


def test_order_updates_customer_last_order_time(shop, app):
    shop.put_cart("t1", cart_body())
    placed = datetime(2026, 3, 2, 10, 30, tzinfo=timezone(timedelta(hours=2)))
    shop.post_order(order_body(cart_token="t1", created_at=placed.isoformat()))
    with app.app_context():
        customer = db.session.query(Customer).one()
        assert customer.last_order_at == placed.astimezone(timezone.utc)


def test_order_for_unknown_cart_is_still_recorded(shop):
    response = shop.post_order(order_body(cart_token="never-seen"))
    assert response.status_code == 201
    assert response.get_json()["cart_token"] is None


def test_order_cannot_close_another_stores_cart(make_store):
    mine, theirs = make_store(), make_store(name="Other", domain="other.example")
    mine.put_cart("t1", cart_body())
    assert theirs.post_order(order_body(cart_token="t1")).get_json()["cart_token"] is None
    assert mine.get_cart("t1").get_json()["status"] == "live"
    assert theirs.client.get("/api/v1/orders/1001", headers=mine.headers).status_code == 404


def test_woocommerce_status_prefix_and_numeric_ids(shop):
    order = shop.post_order(order_body(order_id=5521, status="wc-Completed")).get_json()
    assert order["order_id"] == "5521" and order["status"] == "completed"
    assert order["placed_at"] == T0.isoformat()


def test_invalid_order_names_fields(shop):
    response = shop.post_order({"order_id": "", "total": "-3", "currency": "US", "created_at": "yesterday"})
    assert response.status_code == 400
    assert set(response.get_json()["error"]["fields"]) == {"order_id", "total", "currency", "status", "created_at"}


def test_deleting_an_ordered_cart_keeps_its_outcome(shop):
    shop.put_cart("t1", cart_body())
    shop.post_order(order_body(cart_token="t1"))
    assert shop.delete_cart("t1").status_code == 204
    assert shop.get_cart("t1").get_json()["status"] == "converted"


def test_a_failed_payment_leaves_the_cart_open_until_it_goes_through(shop):
    shop.put_cart("t1", cart_body())
    shop.post_order(order_body(cart_token="t1", status="failed"))
    assert shop.get_cart("t1").get_json()["status"] == "live"
    shop.post_order(order_body(cart_token="t1", status="processing"))
    assert shop.get_cart("t1").get_json()["status"] == "converted"
