"""Migrations that move data: a store upgraded with data in it keeps it, and a downgrade gives it back."""
import re

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from retainful import create_app
from retainful.extensions import db
from tests.conftest import scratch_postgresql


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path):
    """A database of its own (the shared test databases stay at the newest revision)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    with scratch_postgresql("retainful_migrations") as url:
        yield url


def old_store(conn, key_hash: str = "0" * 64) -> int:
    """A store row as the first migration made it (the ORM model has columns an old revision lacks)."""
    conn.execute(sa.text(
        "INSERT INTO store (name, domain, timezone, currency, locale, api_key_hash, api_key_prefix, webhook_secret, "
        "abandon_after_minutes, retention_days, paused, created_at) VALUES ('Acme', 'acme.example', 'UTC', 'EUR', "
        "'en_US', :hash, 'rtf_x', 'whsec', 15, 60, false, '2026-03-01 09:00:00+00:00')"), {"hash": key_hash})
    return conn.execute(sa.text("SELECT id FROM store WHERE api_key_hash = :hash"), {"hash": key_hash}).scalar()


def store_with_carts(revision: str, *tokens: str) -> tuple[int, dict[str, int]]:
    """Migrate to ``revision``, then add a store with an abandoned cart per token; returns the store's and carts' ids."""
    upgrade(revision=revision)
    with db.engine.begin() as conn:
        store_id = old_store(conn)
        for token in tokens:
            conn.execute(sa.text(
                "INSERT INTO cart (store_id, token, status, currency, subtotal, total, item_count, reachable, "
                "control_group, last_activity_at, created_at) VALUES (:store, :token, 'abandoned', 'EUR', 20, 20, 1, "
                "true, false, '2026-03-02 09:00:00+00:00', '2026-03-02 09:00:00+00:00')"),
                {"store": store_id, "token": token})
        return store_id, dict(conn.execute(sa.text("SELECT token, id FROM cart")).all())


def test_cart_lines_move_into_the_cart_row_and_back(empty_database):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database})
    with app.app_context():
        _, carts = store_with_carts("0006", "two-lines", "empty")
        cart_id = carts["two-lines"]
        with db.engine.begin() as conn:
            conn.execute(sa.text(  # stored out of order: the position decides
                "INSERT INTO cart_item (cart_id, position, product_id, sku, name, quantity, price) VALUES "
                "(:cart, 1, 'p2', NULL, 'Tea \"Earl\" Grey', 2, 4.25), (:cart, 0, 'p1', 'MUG', 'Mug', 1, 11.5)"),
                {"cart": cart_id})

        upgrade()
        with db.engine.connect() as conn:
            lines = dict(conn.execute(sa.select(sa.column("token"), sa.column("lines", sa.JSON))
                                      .select_from(sa.table("cart"))).all())
        assert lines["empty"] == []
        assert [(line["product_id"], line["name"], line["quantity"], float(line["price"])) for line in
                lines["two-lines"]] == [("p1", "Mug", 1, 11.5), ("p2", 'Tea "Earl" Grey', 2, 4.25)]
        assert "sku" not in lines["two-lines"][1]  # absent fields are left out, not stored as null
        db.session.remove()

        downgrade(revision="0006")
        with db.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT cart_id, position, product_id, sku, quantity, price FROM cart_item "
                                        "ORDER BY position")).all()
        assert [(r.cart_id, r.position, r.product_id, r.sku, r.quantity, float(r.price)) for r in rows] == [
            (cart_id, 0, "p1", "MUG", 1, 11.5), (cart_id, 1, "p2", None, 2, 4.25)]
        upgrade()
        db.engine.dispose()


def test_carts_learn_when_they_were_first_messaged_and_clicked(empty_database):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database})
    with app.app_context():
        store_id, carts = store_with_carts("0007", "messaged", "quiet")
        with db.engine.begin() as conn:
            for status, sent, clicked in (("sent", "2026-03-02 09:30:00+00:00", None),
                                          ("sent", "2026-03-02 15:00:00+00:00", "2026-03-02 16:00:00+00:00"),
                                          ("scheduled", None, None)):
                conn.execute(sa.text(
                    "INSERT INTO message (store_id, cart_id, kind, channel, status, due_at, attempts, sent_at, "
                    "clicked_at, created_at, updated_at) VALUES (:store, :cart, 'abandoned_cart', 'email', :status, "
                    "'2026-03-02 09:30:00+00:00', 1, :sent, :clicked, '2026-03-02 09:00:00+00:00', "
                    "'2026-03-02 09:00:00+00:00')"),
                    {"store": store_id, "cart": carts["messaged"], "status": status, "sent": sent, "clicked": clicked})

        upgrade()
        with db.engine.connect() as conn:
            times = {token: (messaged, clicked) for token, messaged, clicked in conn.execute(sa.text(
                "SELECT token, messaged_at, clicked_at FROM cart"))}
        assert times["quiet"] == (None, None)
        messaged, clicked = times["messaged"]
        assert str(messaged).startswith("2026-03-02 09:30") and str(clicked).startswith("2026-03-02 16:00")
        db.session.remove()
        downgrade(revision="0007")
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM message")).scalar() == 3  # nothing cascaded away
        upgrade()
        db.engine.dispose()


def test_existing_stores_get_retainful_plugin_credentials(empty_database):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database})
    with app.app_context():
        upgrade(revision="0013")
        with db.engine.begin() as conn:
            old_store(conn, "1" * 64), old_store(conn, "2" * 64)
        upgrade()
        with db.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT retainful_app_id, retainful_secret_key FROM store")).all()
        assert len(rows) == 2 and len({app_id for app_id, _ in rows}) == 2 and len({key for _, key in rows}) == 2
        for app_id, secret in rows:
            assert re.fullmatch(r"[a-z0-9]{24}", app_id) and re.fullmatch(r"[a-z0-9]{32}", secret)
        downgrade(revision="0013")
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM store")).scalar() == 2
        upgrade()
        db.engine.dispose()
