"""Concurrent storefront calls on PostgreSQL: one cart per token, one order per order id, no 500s."""
from concurrent.futures import ThreadPoolExecutor

import pytest

from retainful.extensions import db
from retainful.models import Cart, Order
from tests.conftest import cart_body


@pytest.fixture
def pg_app(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("row-level concurrency is a PostgreSQL matter; SQLite serialises writers")
    return app


def _parallel(app, fn, n=8):
    def call(i):
        return fn(app.test_client(), i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(call, range(n)))


def test_first_reports_of_one_token_race_to_one_cart(pg_app, shop):
    codes = _parallel(pg_app, lambda c, i: c.put("/api/v1/carts/race", json=cart_body(), headers=shop.headers)
                      .status_code)
    assert sorted(set(codes)) in ([200, 201], [201])
    assert codes.count(201) >= 1 and 500 not in codes
    with pg_app.app_context():
        assert db.session.query(Cart).count() == 1
        assert len(db.session.query(Cart).one().items) == len(cart_body()["items"])  # never a mix of two reports


def test_duplicate_order_deliveries_record_one_order(pg_app, shop):
    body = {"order_id": "dup", "total": "5", "currency": "USD", "status": "processing"}
    codes = _parallel(pg_app, lambda c, i: c.post("/api/v1/orders", json=body, headers=shop.headers).status_code)
    assert codes.count(201) == 1 and set(codes) <= {200, 201}
    with pg_app.app_context():
        assert db.session.query(Order).count() == 1
