"""Fixtures in the Flask tutorial's shape (app, client, runner), run against SQLite and PostgreSQL.

Each database gets its schema once per session through the real Alembic migrations, so a broken migration fails here.
PostgreSQL runs when TEST_DATABASE_URL is set or the local server answers; REQUIRE_POSTGRES=1 (CI) makes its absence
an error instead of a skip.
"""
from __future__ import annotations

import ipaddress
import os
import socket
import tempfile
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

os.environ.setdefault("RETAINFUL_INSTANCE_PATH", tempfile.mkdtemp(prefix="retainful-test-instance-"))

from retainful import clock, create_app, egress  # noqa: E402
from retainful.extensions import db  # noqa: E402
from retainful.stores import create_store  # noqa: E402

LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)  # a Monday morning, far from any DST change


def _postgres_server_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL") or LOCAL_POSTGRES
    try:
        engine = sa.create_engine(sa.make_url(url).set(drivername="postgresql+psycopg"), connect_args={
            "connect_timeout": 2})
        with engine.connect():
            pass
        engine.dispose()
        return url
    except Exception:
        if os.environ.get("TEST_DATABASE_URL") or os.environ.get("REQUIRE_POSTGRES") == "1":
            raise
        return None


@contextmanager
def scratch_postgresql(prefix: str):
    """The URL of a new, empty database on the PostgreSQL server, dropped afterwards (skips without a server)."""
    server = _postgres_server_url()
    if server is None:
        pytest.skip("PostgreSQL is not reachable (set TEST_DATABASE_URL or start the local server)")
    base = sa.make_url(server).set(drivername="postgresql+psycopg")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgresql_url():
    """A throw-away database on the PostgreSQL server, dropped after the run."""
    with scratch_postgresql("retainful_test") as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'retainful.sqlite3'}"


_migrated: set[str] = set()


def make_app(url: str, **config):
    from flask_migrate import upgrade

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, **config})
    if url not in _migrated:
        with app.app_context():
            upgrade()
        _migrated.add(url)
    return app


def _empty_tables(app) -> None:
    with app.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(sa.text(f"DELETE FROM {table}"))
        db.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def app(database_url):
    app = make_app(database_url)
    yield app
    _empty_tables(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


PUBLIC_SHOP_ADDRESS = "93.184.215.14"  # what test shop names under .example resolve to: public, never connected to


class _LoopbackOnly:
    """The socket module as the shop guard (retainful.egress) sees it in tests: connections to loopback only."""

    def __getattr__(self, name):
        return getattr(socket, name)

    @staticmethod
    def create_connection(address, *args, **kwargs):
        assert ipaddress.ip_address(address[0]).is_loopback, f"a test tried to connect to {address[0]}"
        return socket.create_connection(address, *args, **kwargs)


@pytest.fixture(autouse=True)
def shop_dns(monkeypatch):
    """Shop hostnames resolve from this table (name -> addresses), never through the machine's resolver, so no lookup
    leaves the machine; other names under ``.example`` resolve to a public address, unknown names to nothing."""
    table: dict[str, list[str]] = {"localhost": ["127.0.0.1"]}

    def resolve(host, port):
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        names = table.get(host, [PUBLIC_SHOP_ADDRESS] if host.endswith(".example") else [])
        return [ipaddress.ip_address(name) for name in names]

    monkeypatch.setattr(egress, "resolve", resolve)
    monkeypatch.setattr(egress, "socket", _LoopbackOnly())
    return table


@pytest.fixture(autouse=True)
def frozen_clock():
    """Time stands still at T0 unless a test moves it; nothing depends on the real clock."""
    clock.freeze(T0)
    yield clock
    clock.unfreeze()


class StoreClient:
    """A store's storefront plugin: the test client with the store's key on every call."""

    def __init__(self, client, issued, store_id):
        self.client, self.issued, self.store_id = client, issued, store_id
        self.headers = {"Authorization": f"Bearer {issued.api_key}"}

    def put_cart(self, token, body, **kw):
        return self.client.put(f"/api/v1/carts/{token}", json=body, headers=self.headers, **kw)

    def get_cart(self, token):
        return self.client.get(f"/api/v1/carts/{token}", headers=self.headers)

    def delete_cart(self, token):
        return self.client.delete(f"/api/v1/carts/{token}", headers=self.headers)

    def post_order(self, body):
        return self.client.post("/api/v1/orders", json=body, headers=self.headers)


@pytest.fixture
def make_store(app, client):
    def _make(name="Acme Mugs", domain="acme.example", **settings):
        with app.app_context():
            issued = create_store(name, domain, **settings)
            store_id = issued.store.id
        return StoreClient(client, issued, store_id)

    return _make


@pytest.fixture
def shop(make_store):
    return make_store(country="US", timezone="America/New_York")


def cart_body(**overrides):
    """A realistic storefront report: two lines, a known shopper, a recovery URL on the store's domain."""
    body = {
        "customer": {"email": "alice@example.com", "first_name": "Alice", "last_name": "Doe",
                     "email_consent": True},
        "currency": "USD",
        "items": [
            {"product_id": "101", "sku": "MUG-RED", "name": "Red mug", "quantity": 2, "price": "12.50",
             "image_url": "https://acme.example/img/red.png", "product_url": "https://acme.example/p/red"},
            {"product_id": 102, "variant_id": 7, "name": "Tea sampler", "quantity": 1, "price": "8.00"},
        ],
        "subtotal": "33.00",
        "total": "36.95",
        "recovery_url": "https://acme.example/cart",
    }
    body.update(overrides)
    return body


@contextmanager
def writes_locked(app):
    """Another connection holds the write locks, as a long job or a stuck client would. Reads still work (SQLite's
    WAL; PostgreSQL's EXCLUSIVE mode lets plain SELECTs through)."""
    with app.app_context():
        engine = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            quote = conn.dialect.identifier_preparer.quote
            tables = ", ".join(quote(table.name) for table in db.metadata.sorted_tables)
            conn.exec_driver_sql(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")
        yield
        conn.rollback()
    engine.dispose()


from tests.provider_fixtures import *  # noqa: E402,F401,F403  (sendgrid_stub, vonage_stub)
pytest_plugins = ["tests.browser"]  # the browser tests' fixtures (browser, live, page, refusals, world), for any module
