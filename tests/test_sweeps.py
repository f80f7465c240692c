"""The abandonment sweep and the retention purge, driven by the test clock."""
from datetime import timedelta

import sqlalchemy as sa

from retainful import carts, clock
from retainful.extensions import db
from retainful.models import Cart, ConsentEvent, Customer, Order, Store
from tests.conftest import T0, cart_body


def statuses(app):
    with app.app_context():
        return {c.token: c.status for c in db.session.scalars(sa.select(Cart))}


def sweep(app):
    with app.app_context():
        return carts.sweep_abandoned()


def test_live_cart_is_abandoned_after_the_cut_off_not_before(shop, app):
    shop.put_cart("a", cart_body())
    clock.advance(timedelta(minutes=14, seconds=59))
    assert sweep(app) == []
    assert statuses(app) == {"a": "live"}
    clock.advance(timedelta(seconds=1))
    assert len(sweep(app)) == 1
    body = shop.get_cart("a").get_json()
    assert body["status"] == "abandoned"
    assert body["abandoned_at"] == (T0 + timedelta(minutes=15)).isoformat()
    assert sweep(app) == []  # idempotent


def test_each_store_has_its_own_cut_off(make_store, app):
    quick, slow = make_store(), make_store(name="Slow", domain="slow.example")
    with app.app_context():
        db.session.get(Store, slow.store_id).abandon_after_minutes = 60
        db.session.commit()
    quick.put_cart("q", cart_body())
    slow.put_cart("s", cart_body(recovery_url="https://slow.example/cart"))
    clock.advance(timedelta(minutes=30))
    sweep(app)
    assert statuses(app) == {"q": "abandoned", "s": "live"}


def test_report_makes_an_abandoned_cart_live_and_moves_its_deadline(shop, app):
    shop.put_cart("a", cart_body())
    clock.advance(timedelta(minutes=20))
    sweep(app)
    shop.put_cart("a", cart_body())
    assert statuses(app) == {"a": "live"}
    clock.advance(timedelta(minutes=10))
    assert sweep(app) == []
    clock.advance(timedelta(minutes=5))
    assert len(sweep(app)) == 1


def test_unreachable_carts_are_abandoned_too_and_marked(shop, app):
    shop.put_cart("g", cart_body(customer=None))
    clock.advance(timedelta(hours=1))
    sweep(app)
    body = shop.get_cart("g").get_json()
    assert body["status"] == "abandoned" and body["reachable"] is False


def test_deleted_and_ordered_carts_are_never_abandoned(shop, app):
    shop.put_cart("d", cart_body())
    shop.delete_cart("d")
    shop.put_cart("o", cart_body())
    shop.post_order({"order_id": "1", "cart_token": "o", "total": "1", "currency": "USD", "status": "processing"})
    clock.advance(timedelta(days=1))
    assert sweep(app) == []
    assert statuses(app) == {"d": "deleted", "o": "converted"}


def test_sweep_works_in_batches(shop, app):
    for i in range(7):
        shop.put_cart(f"b{i}", cart_body())
    clock.advance(timedelta(hours=1))
    with app.app_context():
        assert len(carts.sweep_abandoned(batch_size=3)) == 7
    assert set(statuses(app).values()) == {"abandoned"}


def test_sweep_query_reads_only_due_carts_through_the_index(shop, app):
    with app.app_context():
        due = sa.select(Cart.id).where(Cart.status == "live", Cart.abandon_due_at <= clock.now())
        sql = str(due.compile(db.engine, compile_kwargs={"literal_binds": True}))
        if db.engine.dialect.name == "sqlite":
            plan = " ".join(str(r) for r in db.session.execute(sa.text("EXPLAIN QUERY PLAN " + sql)))
            assert "ix_cart_status_abandon_due (status=? AND abandon_due_at<?)" in plan
        else:  # give the planner a realistic table: many closed carts, some live ones due later
            db.session.execute(sa.text(
                "INSERT INTO cart (store_id, token, status, currency, subtotal, total, item_count, reachable,"
                " last_activity_at, abandon_due_at, created_at)"
                " SELECT :s, 'bulk' || n, CASE WHEN n % 10 = 0 THEN 'live' ELSE 'converted' END, 'USD', 1, 1, 1,"
                " true, now(), CASE WHEN n % 10 = 0 THEN now() + n * interval '1 minute' END, now()"
                " FROM generate_series(1, 20000) AS n"), {"s": shop.store_id})
            db.session.execute(sa.text("ANALYZE cart"))
            plan = " ".join(r[0] for r in db.session.execute(sa.text("EXPLAIN " + sql)))
            db.session.rollback()
            assert "ix_cart_status_abandon_due" in plan and "Seq Scan" not in plan


def test_purge_removes_old_carts_and_personal_data(shop, app):
    shop.put_cart("old", cart_body(customer={"email": "old@example.com"}))
    shop.put_cart("buyer", cart_body(customer={"email": "buyer@example.com", "email_consent": True}))
    shop.post_order({"order_id": "9", "cart_token": "buyer", "total": "5", "currency": "USD", "status": "completed"})
    clock.advance(timedelta(days=59))
    shop.put_cart("recent", cart_body(customer={"email": "recent@example.com"}))
    with app.app_context():
        assert carts.purge_expired()["carts"] == 0
    clock.advance(timedelta(days=2))
    with app.app_context():
        counts = carts.purge_expired()
        # The buyer's cart goes with the others; the buyer stays for customer_retention_days (730).
        assert counts == {"carts": 2, "customers_deleted": 1, "customers_anonymised": 0, "test_messages": 0}
        emails = sorted(filter(None, db.session.scalars(sa.select(Customer.email))))
        assert emails == ["buyer@example.com", "recent@example.com"]
    assert statuses(app) == {"recent": "live"}
    clock.advance(timedelta(days=670))
    with app.app_context():
        counts = carts.purge_expired()
        assert counts == {"carts": 1, "customers_deleted": 1, "customers_anonymised": 1, "test_messages": 0}
        assert list(filter(None, db.session.scalars(sa.select(Customer.email)))) == []
        assert db.session.query(Order).one().total == 5  # revenue history stays
        assert db.session.query(ConsentEvent).count() == 0
