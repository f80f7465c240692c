"""Migrations that move data: a store upgraded with data in it keeps it, and a downgrade gives it back."""
import re

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from werkzeug.security import generate_password_hash

from retainful import create_app, users
from retainful.extensions import db
from retainful.models import Store
from tests.conftest import scratch_postgresql


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path):
    """A database of its own (the shared test databases stay at the newest revision)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    with scratch_postgresql("retainful_migrations") as url:
        yield url


def _add_store(conn, key_hash: str = "0" * 64) -> int:
    """A store row with the columns the database has at its revision (the model may have more) and their defaults."""
    table = sa.Table("store", sa.MetaData(), autoload_with=conn)
    row = {c.name: c.default.arg(None) if c.default.is_callable else c.default.arg
           for c in Store.__table__.c if c.default is not None and c.name in table.c}
    row.update(name="Acme", domain="acme.example", api_key_hash=key_hash, api_key_prefix="rtf_0", webhook_secret="s")
    return conn.execute(table.insert().values(row)).inserted_primary_key[0]


def store_with_carts(revision: str, *tokens: str) -> tuple[int, dict[str, int]]:
    """Migrate to ``revision``, then add a store with an abandoned cart per token; returns the store's and carts' ids."""
    upgrade(revision=revision)
    with db.engine.begin() as conn:
        store_id = _add_store(conn)
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


def test_coupon_sync_errors_keep_their_status_but_not_the_shops_reply(empty_database):
    """Audit F3: the coupon page showed the first 200 characters of whatever the shop URL answered."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database})
    with app.app_context():
        store_id, _ = store_with_carts("0009")
        errors = {"A": "HTTP 500: INTERNAL-ONLY: db_password=hunter2", "B": "HTTP 401 internal_secret: hunter2",
                  "C": "gave up after 8 attempts: HTTP 503: <html>hunter2</html>",
                  "D": "ConnectionError: HTTPConnectionPool(host='10.0.0.5', port=8443)", "E": None}
        with db.engine.begin() as conn:
            for code, error in errors.items():
                conn.execute(sa.text(
                    "INSERT INTO coupon (store_id, code, kind, discount_type, amount, currency, expires_at, "
                    "usage_limit, usage_count, sync_state, sync_attempts, sync_error, created_at) VALUES (:store, "
                    ":code, 'recovery', 'percent', 10, 'USD', '2026-03-04 09:00:00+00:00', 1, 0, 'failed', 1, "
                    ":error, '2026-03-02 09:00:00+00:00')"), {"store": store_id, "code": code, "error": error})
        upgrade()
        with db.engine.connect() as conn:
            stored = dict(conn.execute(sa.text("SELECT code, sync_error FROM coupon")).all())
        assert stored == {"A": "HTTP 500", "B": "HTTP 401", "C": "gave up after 8 attempts", "D": "ConnectionError",
                          "E": None}


def test_users_made_before_0010_keep_their_login_and_start_at_session_version_1(empty_database):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database})
    with app.app_context():
        upgrade(revision="0009")
        with db.engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO admin_user (email, password_hash, role, active, failed_logins, last_failed_login_at, "
                "created_at) VALUES ('owner@acme.test', :hash, 'admin', true, 4, '2026-03-02 09:00:00+00:00', "
                "'2026-03-01 09:00:00+00:00')"), {"hash": generate_password_hash("correct horse battery")})

        upgrade()
        user = users.authenticate("owner@acme.test", "correct horse battery", "192.0.2.1")
        assert user is not None and user.session_version == 1
        db.session.remove()
        downgrade(revision="0009")
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT email, failed_logins FROM admin_user")).one() == ("owner@acme.test", 0)


def test_existing_stores_get_retainful_plugin_credentials(empty_database):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database})
    with app.app_context():
        upgrade(revision="0014")
        with db.engine.begin() as conn:
            _add_store(conn, "1" * 64), _add_store(conn, "2" * 64)
        upgrade()
        with db.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT retainful_app_id, retainful_secret_key FROM store")).all()
        assert len(rows) == 2 and len({app_id for app_id, _ in rows}) == 2 and len({key for _, key in rows}) == 2
        for app_id, secret in rows:
            assert re.fullmatch(r"[a-z0-9]{24}", app_id) and re.fullmatch(r"[a-z0-9]{32}", secret)
        downgrade(revision="0014")
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM store")).scalar() == 2
        upgrade()
        db.engine.dispose()


def test_upgrading_and_downgrading_a_running_install_keeps_every_row(empty_database):
    """This session's migrations alter tables that others reference (admin_user, shop_order, message). A SQLite batch
    rebuild drops the old table, which with foreign keys on cascades: an upgrade once left every owner without their
    stores. Plain ALTERs keep every row, both ways."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database})
    at = "'2026-03-02 09:00:00+00:00'"
    counted = ("user_store", "cart", "message", "shop_order")
    with app.app_context():
        store_id, carts = store_with_carts("0009", "c1")
        with db.engine.begin() as conn:
            params = {"store": store_id, "cart": carts["c1"]}
            conn.execute(sa.text("INSERT INTO admin_user (email, password_hash, role, active, failed_logins, "
                                 f"created_at) VALUES ('owner@acme.test', 'h', 'owner', true, 0, {at})"))
            conn.execute(sa.text("INSERT INTO user_store (user_id, store_id) SELECT id, :store FROM admin_user"),
                         params)
            conn.execute(sa.text("INSERT INTO message (store_id, cart_id, kind, channel, status, due_at, attempts, "
                                 f"created_at, updated_at) VALUES (:store, :cart, 'abandoned_cart', 'email', 'sent', "
                                 f"{at}, 1, {at}, {at})"), params)
            conn.execute(sa.text("INSERT INTO shop_order (store_id, cart_id, external_id, total, currency, status, "
                                 f"coupon_codes, placed_at, received_at) VALUES (:store, :cart, 'o1', 20, 'EUR', "
                                 f"'processing', '[]', {at}, {at})"), params)

        def counts():
            with db.engine.connect() as conn:
                return {table: conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() for table in counted}

        assert counts() == dict.fromkeys(counted, 1)
        upgrade()
        assert counts() == dict.fromkeys(counted, 1)
        db.session.remove()
        downgrade(revision="0009")
        assert counts() == dict.fromkeys(counted, 1)
        upgrade()
        db.engine.dispose()


# Foreign keys left without an index of their own, and why that is fine: the referenced rows are deleted one at a
# time by a person (a user, a step, a store), never in bulk by a sweep, so the scan of the referencing table is rare.
UNINDEXED_FOREIGN_KEYS = {
    ("invitation", "invited_by_id"), ("conversation", "assigned_user_id"),
    ("conversation_message", "agent_user_id"),  # users are removed by hand
    ("user_store", "store_id"),  # (user_id, store_id) is the key; stores are deleted by hand
    ("message", "step_id"),  # an owner deletes a sequence step: one scan per step, not per row
    ("message", "coupon_id"),  # coupons go with their cart (its messages first) or by hand
}


def test_every_foreign_key_that_sweeps_delete_through_is_indexed():
    """Deleting a row makes the database find every row that names it (to cascade or null it): without an index that
    is a scan of the whole referencing table per deleted row, and the retention sweep deletes thousands."""
    unindexed = set()
    for table in db.metadata.sorted_tables:
        leading = {index.columns[0].name for index in table.indexes if len(index.columns)}
        leading |= {constraint.columns[0].name for constraint in table.constraints
                    if isinstance(constraint, (sa.UniqueConstraint, sa.PrimaryKeyConstraint)) and constraint.columns}
        unindexed |= {(table.name, key.parent.name) for key in table.foreign_keys if key.parent.name not in leading}
    assert unindexed == UNINDEXED_FOREIGN_KEYS
