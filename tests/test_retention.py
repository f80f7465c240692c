"""Retention, on SQLite and PostgreSQL: carts (and shoppers who never ordered) go after ``retention_days`` (60);
customers who have ordered stay ``customer_retention_days`` (730), because the automations that bring buyers back
(the 60-day win-back, a birthday) need them long after their carts are gone."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from retainful import automations, carts, clock
from retainful.extensions import db
from retainful.messaging.dispatch import Dispatcher
from retainful.models import Customer, Message, Order, Store
from retainful.stores import StoreSettingsError, update_settings
from tests.conftest import cart_body

UTC = timezone.utc


def purge(app):
    with app.app_context():
        return carts.purge_expired()


def emails(app):
    with app.app_context():
        return sorted(filter(None, db.session.scalars(sa.select(Customer.email))))


def buy(shop, order_id, email="buyer@example.com"):
    assert shop.post_order({"order_id": order_id, "customer": {"email": email, "email_consent": True},
                            "total": "20", "currency": "USD", "status": "processing"}).status_code == 201


def test_a_buyer_outlives_the_cart_retention_and_a_browser_does_not(shop, app):
    shop.put_cart("browse", cart_body(customer={"email": "browser@example.com"}))
    shop.put_cart("paid", cart_body(customer={"email": "buyer@example.com"}))
    buy(shop, "1")
    clock.advance(timedelta(days=61))
    counts = purge(app)
    assert (counts["carts"], counts["customers_deleted"], counts["customers_anonymised"]) == (2, 1, 0)
    assert emails(app) == ["buyer@example.com"]
    clock.advance(timedelta(days=668))  # 729 days after the order
    assert purge(app)["customers_anonymised"] == 0 and emails(app) == ["buyer@example.com"]
    clock.advance(timedelta(days=2))
    assert purge(app)["customers_anonymised"] == 1 and emails(app) == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Order.id))) == 1  # the revenue stays, anonymous


def test_a_later_order_restarts_the_buyers_retention(shop, app):
    buy(shop, "1")
    clock.advance(timedelta(days=500))
    with app.app_context():  # an order imported with no customer data: only last_order_at moves
        customer = db.session.scalar(sa.select(Customer))
        customer.last_order_at = clock.now()
        db.session.commit()
    clock.advance(timedelta(days=300))  # 800 days after they were last seen, 300 after their last order
    purge(app)
    assert emails(app) == ["buyer@example.com"]


def test_customer_retention_is_a_store_setting_never_shorter_than_the_carts(shop, app, runner):
    result = runner.invoke(args=["configure-store", str(shop.store_id), "--customer-retention-days", "90"])
    assert result.exit_code == 0, result.output
    bad = runner.invoke(args=["configure-store", str(shop.store_id), "--customer-retention-days", "0"])
    assert bad.exit_code != 0 and "customer_retention_days" in bad.output
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        assert store.customer_retention_days == 90
        with pytest.raises(StoreSettingsError, match="customer_retention_days"):
            update_settings(store, customer_retention_days=3651)
        update_settings(store, customer_retention_days=10)  # below the carts' 60: buyers keep 60 all the same
    buy(shop, "1")
    clock.advance(timedelta(days=59))
    purge(app)
    assert emails(app) == ["buyer@example.com"]
    clock.advance(timedelta(days=2))
    purge(app)
    assert emails(app) == []


def test_the_hourly_purge_leaves_the_60_day_win_back_its_shopper(shop, app):
    """The purge runs every hour beside the automations: the second win-back step still finds its customer."""
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        store.next_order_enabled = False
        automations.set_enabled(store, "win_back", True)
    shop.put_cart("paid", cart_body(customer={"email": "buyer@example.com", "email_consent": True}))
    buy(shop, "1")
    for day in range(1, 62):
        clock.freeze(datetime(2026, 3, 2, 15, 0, tzinfo=UTC) + timedelta(days=day))  # 10:00 in New York
        with app.app_context():
            carts.purge_expired()
            automations.plan_due()
            Dispatcher(app).run_due()
    with app.app_context():
        steps = db.session.execute(sa.select(Message.dedup_key, Message.status, Message.recipient)
                                   .where(Message.kind == "win_back").order_by(Message.id)).all()
    assert [(status, recipient) for _, status, recipient in steps] == [("sent", "buyer@example.com")] * 2
