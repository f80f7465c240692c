"""Reports checked against a small store whose every figure is worked out by hand below."""
import csv
import io
import math
from datetime import timedelta
from decimal import Decimal

import pytest

from retainful import clock
from retainful.extensions import db
from retainful.models import Cart, Order, Store
from tests.conftest import T0
from tests.test_recovery_sequence import at, sent

# T0 is 2026-03-02 09:00 UTC, 04:00 in New York: the store-local day is March 2.


def cart(total, email=None):
    customer = {"email": email, "first_name": email.split("@")[0].title()} if email else None
    return {"customer": customer, "currency": "USD", "subtotal": total, "total": total,
            "items": [{"product_id": "1", "name": "Thing", "quantity": 1, "price": total}],
            "recovery_url": "https://acme.example/cart"}


@pytest.fixture
def history(shop, app, client):
    """A: recovered after a click (order 90). B: recovered, then refunded. C: ordered before any message (converted).
    D: messaged 5 times, never ordered (lost, 70). E: a guest with no contact. F: ordered while live.
    H: Carol's later order paying with her next-order coupon."""
    for token, total, email in (("A", "100.00", "alice@example.com"), ("B", "50.00", "bob@example.com"),
                                ("C", "40.00", "carol@example.com"), ("D", "70.00", "dave@example.com"),
                                ("E", "30.00", None), ("F", "20.00", "frank@example.com")):
        assert shop.put_cart(token, cart(total, email)).status_code == 201
    clock.freeze(T0 + timedelta(minutes=5))
    shop.post_order({"order_id": "F1", "cart_token": "F", "total": "20.00", "currency": "USD", "status": "processing"})
    at(app, timedelta(minutes=15))
    clock.freeze(T0 + timedelta(minutes=20))
    shop.post_order({"order_id": "C1", "cart_token": "C", "total": "40.00", "currency": "USD", "status": "processing"})
    at(app, timedelta(minutes=30))
    alice = next(m for m in sent(app, channel="email") if m.recipient == "alice@example.com")
    clock.freeze(T0 + timedelta(minutes=40))
    client.get(f"/r/{alice.link_code}")
    clock.freeze(T0 + timedelta(hours=1))
    shop.post_order({"order_id": "A1", "cart_token": "A", "total": "90.00", "currency": "USD", "status": "processing"})
    clock.freeze(T0 + timedelta(hours=2))
    shop.post_order({"order_id": "B1", "cart_token": "B", "total": "50.00", "currency": "USD", "status": "processing"})
    for delta in (timedelta(hours=6), timedelta(days=2)):
        at(app, delta)
    clock.freeze(T0 + timedelta(days=3))
    with app.app_context():
        from retainful.models import Coupon
        code = db.session.query(Coupon).filter_by(email="carol@example.com", kind="next_order").one().code
    shop.post_order({"order_id": "H1", "customer": {"email": "carol@example.com"}, "total": "25.00",
                     "currency": "USD", "status": "completed", "coupon_codes": [code]})
    assert shop.client.post(f"/api/v1/coupons/{code}/redeem", headers=shop.headers,
                            json={"order_id": "H1", "email": "carol@example.com"}).status_code == 201
    for delta in (timedelta(days=4), timedelta(days=7), timedelta(days=8, hours=1)):
        at(app, delta)
    shop.post_order({"order_id": "B1", "total": "50.00", "currency": "USD", "status": "refunded"})
    return shop


def get(shop, report, **params):
    response = shop.client.get(f"/api/v1/reports/{report}", headers=shop.headers, query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_summary(history):
    assert get(history, "summary") == {
        "from": "2026-02-09", "to": "2026-03-10", "currency": "USD",
        "carts_created": 6,  # A-F
        "abandoned": 5,  # all but F, which was ordered while live
        "reachable": 4,  # E has no email or phone
        "messaged": 3,  # A, B, D (C ordered before the 30-minute email)
        "clicked": 1,  # Alice
        "recovered": 1,  # A (B's revenue was taken back by the refund)
        "recovered_revenue": "90.00", "captured_cart_value": "100.00",
        "converted": 1,  # C stays in the denominator
        "lost": 2, "lost_value": "100.00",  # D (70) and the unreachable guest E (30)
        "recovery_rate": 0.25,  # 1 / 4
        "messages_sent": 7,  # A 1, B 1, D 5
        "revenue_per_message": "12.86",  # 90 / 7
    }


def test_funnel(history):
    steps = {(row["step"], row["channel"]): row for row in get(history, "funnel")["steps"]}
    assert steps[(1, "email")] == {
        "automation": "abandoned_cart", "step": 1, "channel": "email", "planned": 4, "sent": 3, "skipped": {},
        "failed": 0, "cancelled": 1, "opened": 0, "clicked": 1, "recovered": 1, "recovered_revenue": "90.00"}
    assert steps[(1, "sms")]["skipped"] == {"no_phone": 3} and steps[(1, "sms")]["cancelled"] == 1
    for step in (2, 3, 4, 5):
        assert (steps[(step, "email")]["sent"], steps[(step, "email")]["cancelled"]) == (1, 3)  # D only
        assert steps[(step, "email")]["recovered"] == 0


def test_coupons(history):
    assert get(history, "coupons") == {
        "currency": "USD",
        "recovery": {"issued": 1, "redeemed": 0, "redemption_rate": 0.0, "orders": 0, "revenue": "0.00"},  # D, 2 d
        # F, C, A, B earned one each (H paid with Carol's, so it does not chain); Carol's was redeemed by H (25).
        "next_order": {"issued": 4, "redeemed": 1, "redemption_rate": 0.25, "orders": 1, "revenue": "25.00"},
        "win_back": {"issued": 0, "redeemed": 0, "redemption_rate": 0.0, "orders": 0, "revenue": "0.00"},
    }


def test_daily_and_csv(history):
    csv_response = history.client.get("/api/v1/reports/daily.csv?from=2026-03-01&to=2026-03-05",
                                      headers=history.headers)
    assert csv_response.status_code == 200 and csv_response.mimetype == "text/csv"
    rows = {row["date"]: row for row in csv.DictReader(io.StringIO(csv_response.get_data(as_text=True)))}
    assert list(rows) == ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05"]
    assert rows["2026-03-02"] == {"date": "2026-03-02", "carts_created": "6", "abandoned": "5", "orders": "3",
                                  "revenue": "150.00", "recovered": "1", "recovered_revenue": "90.00"}
    assert rows["2026-03-05"]["orders"] == "1" and rows["2026-03-01"]["carts_created"] == "0"


def test_before_after_says_when_history_is_missing(history):
    report = get(history, "before-after")
    assert report["enough_history"] is False and report["before"] is None and "Not enough history" in report["note"]
    assert report["change"] is None
    assert report["after"]["orders"] == 4 and report["after"]["revenue"] == "175.00"  # F 20 + C 40 + A 90 + H 25
    assert report["after"]["recovered_share"] == pytest.approx(90 / 175, abs=1e-6)


def test_before_after_with_history(shop, app):
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        store.recovery_started_at = T0 - timedelta(days=10)
        db.session.commit()
    for n, (days_ago, total) in enumerate(((18, "100"), (15, "50"), (12, "30"), (5, "80"), (2, "120"), (1, "40"))):
        clock.freeze(T0 - timedelta(days=days_ago))
        shop.post_order({"order_id": f"O{n}", "total": total, "currency": "USD", "status": "completed"})
    clock.freeze(T0)
    report = get(shop, "before-after", days=10)
    assert report["enough_history"] is True and report["window_days"] == 10
    assert (report["before"]["orders"], report["before"]["revenue"]) == (3, "180.00")
    assert (report["after"]["orders"], report["after"]["revenue"]) == (3, "240.00")
    assert report["change"]["revenue"] == pytest.approx(33.33, abs=0.01)
    assert report["change"]["average_order_value"] == pytest.approx(33.33, abs=0.01)  # 60 -> 80
    assert len(report["daily"]) == 20


def test_before_after_change_figures_by_hand(history, app):
    """Recovery was switched on the day before the history's first cart: the nine days before it had three orders
    (the pull imported them) and, as on any real store, nothing recovered. A change from zero is no percentage."""
    end = clock.now()
    with app.app_context():
        store = db.session.get(Store, history.store_id)
        store.recovery_started_at = T0 - timedelta(days=1)  # store-local March 1: before is Feb 20-28, after Mar 1-9
        db.session.commit()
    for n, (days_ago, total) in enumerate(((9, "100.00"), (6, "50.00"), (3, "30.00"))):
        clock.freeze(T0 - timedelta(days=days_ago))
        history.post_order({"order_id": f"P{n}", "total": total, "currency": "USD", "status": "completed"})
    clock.freeze(end)
    report = get(history, "before-after", days=30)
    assert (report["window_days"], report["enough_history"]) == (9, True)
    before, after = report["before"], report["after"]
    assert (before["orders"], before["revenue"], before["average_order_value"]) == (3, "180.00", "60.00")
    assert (before["recovered_revenue"], before["recovered_share"], before["abandonment_rate"]) == ("0.00", 0, 0)
    assert (after["orders"], after["revenue"], after["average_order_value"]) == (4, "175.00", "43.75")
    assert after["recovered_revenue"] == "90.00"  # A; B's 50 was refunded
    assert report["change"] == {
        "orders": 33.33,  # 3 -> 4
        "revenue": -2.78,  # 180 -> 175: -5 / 180
        "average_order_value": -27.08,  # 60 -> 43.75: -16.25 / 60
        "abandonment_rate": None, "recovered_revenue": None, "recovered_share": None}  # before: 0


def test_openapi_says_change_may_be_null(client):
    change = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]["BeforeAfterReport"][
        "properties"]["change"]
    assert change["nullable"] is True and change["additionalProperties"]["nullable"] is True


def test_holdout_lift_with_a_confidence_interval(shop, app):
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        store.holdout_percent = 40
        for n in range(100):
            control = n >= 60  # 60 messaged carts, 40 control carts
            ordered = (not control and n < 15) or (control and n >= 96)  # 15 of 60 vs 4 of 40
            status = ("converted" if control else "recovered") if ordered else "lost"
            row = Cart(store_id=store.id, token=f"h{n}", status=status, currency="USD", subtotal=40, total=40,
                       item_count=1, reachable=True, control_group=control, last_activity_at=T0,
                       abandoned_at=T0 + timedelta(minutes=15), created_at=T0)
            db.session.add(row)
            db.session.flush()
            if ordered:
                db.session.add(Order(store_id=store.id, external_id=f"o{n}", cart_id=row.id, total=Decimal(40),
                                     currency="USD", status="completed", placed_at=T0 + timedelta(hours=1)))
        db.session.commit()
    clock.freeze(T0 + timedelta(days=1))
    report = get(shop, "holdout")
    assert report["messaged"] == {"carts": 60, "ordered": 15, "rate": 0.25, "revenue": "600.00"}
    assert report["control"] == {"carts": 40, "ordered": 4, "rate": 0.1, "revenue": "160.00"}
    margin = 1.959964 * math.sqrt(0.25 * 0.75 / 60 + 0.1 * 0.9 / 40)  # 0.1437
    assert report["lift"] == pytest.approx(0.15)
    assert report["ci95"] == pytest.approx([0.15 - margin, 0.15 + margin], abs=1e-5)
    assert report["p_value"] == pytest.approx(math.erfc(0.15 / (margin / 1.959964) / math.sqrt(2)), abs=1e-5)
    assert report["significant"] is True
    assert report["incremental_revenue"] == "360.00"  # 0.15 x 60 carts x 40 per order


def test_holdout_too_small_says_so(history):
    report = get(history, "holdout")
    assert report["lift"] is None and "Too few carts" in report["note"]


def test_holdout_carts_are_never_messaged_and_stay_put(make_store, app):
    from retainful.automations import in_holdout

    shop = make_store()
    with app.app_context():
        db.session.get(Store, shop.store_id).holdout_percent = 50
        db.session.commit()
    tokens = [f"t{n}" for n in range(20)]
    for token in tokens:
        shop.put_cart(token, cart("10.00", f"{token}@example.com"))
    at(app, timedelta(minutes=30))
    expected_control = {t for t in tokens if in_holdout(shop.store_id, t, 50)}
    assert 0 < len(expected_control) < 20
    with app.app_context():
        control = {c.token for c in db.session.query(Cart).filter_by(control_group=True)}
        emailed = {db.session.get(Cart, m.cart_id).token for m in sent(app, channel="email")}
    assert control == expected_control
    assert emailed == set(tokens) - expected_control


@pytest.mark.parametrize("query", ["from=2026-13-01", "to=yesterday", "days=0", "days=abc",
                                   "from=2026-03-05&to=2026-03-01"])
def test_bad_dates_are_400(shop, query):
    response = shop.client.get(f"/api/v1/reports/summary?{query}", headers=shop.headers)
    assert response.status_code == 400 and response.get_json()["error"]["fields"]


def test_reports_are_store_scoped(history, make_store):
    other = make_store(name="Other", domain="other.example")
    assert get(other, "summary")["carts_created"] == 0
    assert get(other, "funnel")["steps"] == []  # no cohort: its message lookups match nothing
    assert history.client.get("/api/v1/reports/summary").status_code == 401


def test_woocommerce_refunds_come_off_recovered_revenue_and_a_deleted_order_brings_none(shop, app):
    """A partial refund (the order's ``refunds`` list) is taken off every revenue figure; a trashed order is void."""
    from tests.test_woocommerce import deliver
    from tests.woo_stub import woo_order_payload

    assert shop.put_cart("cart-1", cart("90.00", "alice@example.com")).status_code == 201
    at(app, timedelta(minutes=30))  # abandoned, first email sent
    clock.freeze(T0 + timedelta(hours=1))
    placed = woo_order_payload(total="90.00", date_created_gmt="2026-03-02T10:00:00",
                               date_modified_gmt="2026-03-02T10:00:00")
    assert deliver(shop, placed).get_json()["created"] is True
    assert get(shop, "summary")["recovered_revenue"] == "90.00"

    def refunded(*totals, modified):
        refunds = [{"id": 800 + n, "reason": "", "total": total} for n, total in enumerate(totals)]
        return {**placed, "refunds": refunds, "date_modified_gmt": modified}

    deliver(shop, refunded("-12.50", modified="2026-03-02T11:00:00"), topic="order.updated")
    deliver(shop, refunded("-12.50", "-2.50", modified="2026-03-02T12:00:00"), topic="order.updated")
    deliver(shop, refunded("-12.50", modified="2026-03-02T11:00:00"), topic="order.updated")  # late: ignored
    summary = get(shop, "summary")
    assert (summary["recovered"], summary["recovered_revenue"]) == (1, "75.00")
    assert get(shop, "funnel")["steps"][0]["recovered_revenue"] == "75.00"
    assert get(shop, "before-after")["after"]["revenue"] == "75.00"
    csv_response = shop.client.get("/api/v1/reports/daily.csv?from=2026-03-02&to=2026-03-02", headers=shop.headers)
    row = next(csv.DictReader(io.StringIO(csv_response.get_data(as_text=True))))
    assert (row["revenue"], row["recovered_revenue"]) == ("75.00", "75.00")

    deliver(shop, {"id": placed["id"]}, topic="order.deleted")
    summary = get(shop, "summary")
    assert (summary["recovered"], summary["recovered_revenue"]) == (0, "0.00")
    assert get(shop, "before-after")["after"]["revenue"] == "0.00"
