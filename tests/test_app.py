"""Settings, health, migrations and the OpenAPI document."""
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from retainful import config, create_app
from retainful.extensions import db
from retainful.models import Cart
from tests.conftest import T0, cart_body


@pytest.mark.filterwarnings("ignore:.*expression-based index")  # SQLite cannot reflect lower(email) indexes
def test_migrations_match_the_models(app):
    with app.app_context(), db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_healthz_503_when_database_is_down(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/missing/dir/db.sqlite3", "TESTING": True})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503 and response.get_json() == {"status": "unavailable"}


def test_defaults_and_generated_secret_key(tmp_path, monkeypatch):
    for name in ("DATABASE_URL", "SECRET_KEY", "PUBLIC_BASE_URL", "RETAINFUL_ENV"):
        monkeypatch.delenv(name, raising=False)
    settings = config.load(str(tmp_path))
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'retainful.sqlite3'}"
    assert settings["PUBLIC_BASE_URL"] == "http://127.0.0.1:5000"
    assert config.load(str(tmp_path))["SECRET_KEY"] == settings["SECRET_KEY"]  # kept in instance/
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_production_requires_secret_key(tmp_path, monkeypatch):
    monkeypatch.setenv("RETAINFUL_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(config.ConfigError):
        config.load(str(tmp_path))


def test_postgres_urls_use_psycopg3():
    assert config.normalise_database_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert config.normalise_database_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"


def test_datetimes_come_back_aware_utc(app, shop):
    shop.put_cart("t", cart_body())
    with app.app_context():
        cart = db.session.scalars(sa.select(Cart)).one()
        assert cart.last_activity_at == T0 and cart.last_activity_at.utcoffset() == timedelta(0)


def test_openapi_documents_every_api_route(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops
                  if method != "parameters"}
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1") and rule.endpoint != "api.openapi" or rule.rule == "/healthz":
            path = rule.rule.replace("<path:", "<").replace("<", "{").replace(">", "}")
            routes |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == documented
    cart_in = spec["components"]["schemas"]["CartIn"]
    assert set(cart_in["required"]) == {"currency", "items", "subtotal", "total"}
    assert spec["components"]["schemas"]["CartOut"]["properties"]["status"]["enum"][0] == "live"
