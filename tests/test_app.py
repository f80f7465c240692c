"""Settings, health, migrations, security headers and the OpenAPI document."""
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from retainful import config, create_app
from retainful.extensions import db
from retainful.models import Cart
from tests.conftest import T0, cart_body

ROOT = Path(__file__).resolve().parent.parent


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


@pytest.mark.parametrize("key", ["a", "x" * 31, "é" * 15])
def test_production_refuses_a_short_secret_key(tmp_path, monkeypatch, key):
    monkeypatch.setenv("RETAINFUL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", key)
    with pytest.raises(config.ConfigError, match="at least 32 bytes"):
        config.load(str(tmp_path))


def test_a_short_secret_key_stops_the_wsgi_app_from_starting(tmp_path):
    env = {**os.environ, "RETAINFUL_ENV": "Production", "SECRET_KEY": "short", "RETAINFUL_INSTANCE_PATH": str(tmp_path)}
    started = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=60)
    assert started.returncode != 0 and "SECRET_KEY must have at least 32 bytes" in started.stderr


@pytest.mark.parametrize("value, expected", [("Production", "production"), (" PRODUCTION ", "production"),
                                             ("Development", "development"), ("", "development")])
def test_retainful_env_is_read_in_any_case(tmp_path, monkeypatch, value, expected):
    monkeypatch.setenv("RETAINFUL_ENV", value)
    monkeypatch.setenv("SECRET_KEY", "k" * 32)
    assert config.load(str(tmp_path))["RETAINFUL_ENV"] == expected


@pytest.mark.parametrize("value", ["staging", "prod", "Produktion"])
def test_an_unknown_retainful_env_is_an_error_not_development(tmp_path, monkeypatch, value):
    monkeypatch.setenv("RETAINFUL_ENV", value)
    with pytest.raises(config.ConfigError, match="RETAINFUL_ENV must be one of development, production"):
        config.load(str(tmp_path))


@pytest.mark.parametrize("name, value", [("ADMIN_SESSION_HOURS", "0"), ("ADMIN_SESSION_HOURS", "twelve"),
                                         ("ADMIN_SESSION_HOURS", "1.5"), ("ADMIN_SESSION_HOURS", "9" * 30),
                                         ("TRUSTED_PROXY_COUNT", "-1")])
def test_bad_session_and_proxy_settings_stop_the_start(tmp_path, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(config.ConfigError, match=name):
        config.load(str(tmp_path))


def test_session_and_proxy_settings_defaults(tmp_path, monkeypatch):
    monkeypatch.delenv("ADMIN_SESSION_HOURS", raising=False)
    monkeypatch.delenv("TRUSTED_PROXY_COUNT", raising=False)
    settings = config.load(str(tmp_path))
    assert settings["ADMIN_SESSION_HOURS"] == 12 and settings["TRUSTED_PROXY_COUNT"] == 0
    monkeypatch.setenv("ADMIN_SESSION_HOURS", "24")
    assert config.load(str(tmp_path))["ADMIN_SESSION_HOURS"] == 24


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


# --- security headers ----------------------------------------------------------------------------------------------

def _policy(response) -> dict[str, str]:
    directives = (part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    return {name: value for name, value in directives}


def test_every_response_carries_the_security_headers(client, shop):
    responses = {
        "admin page": client.get("/admin/login"),
        "admin redirect": client.get("/admin/carts/"),
        "admin asset": client.get("/admin/assets/admin.js"),
        "API": client.get("/api/v1/carts/x", headers=shop.headers),
        "API refusal": client.get("/api/v1/carts/x"),
        "public page": client.get("/r/AAAAAAAAAAAA"),
        "health": client.get("/healthz"),
    }
    for name, response in responses.items():
        assert response.headers["X-Content-Type-Options"] == "nosniff", name
        assert response.headers["X-Frame-Options"] == "DENY", name
        assert _policy(response)["frame-ancestors"] == "'none'", name
        assert response.headers["Referrer-Policy"] in ("strict-origin-when-cross-origin", "no-referrer"), name
        assert "Strict-Transport-Security" not in response.headers, name  # development over http
    assert responses["public page"].headers["Referrer-Policy"] == "no-referrer"  # the recovery links keep theirs
    assert _policy(responses["API"])["default-src"] == "'none'"


def test_admin_pages_get_a_script_policy_without_inline_code_and_no_caching(client):
    page = client.get("/admin/login")
    policy = _policy(page)
    assert policy["script-src"] == "'self'" and policy["object-src"] == "'none'" and policy["base-uri"] == "'none'"
    assert policy["form-action"] == "'self'"
    assert page.headers["Cache-Control"] == "no-store"
    assert "<script>" not in page.get_data(as_text=True)  # every script is a static file the policy allows
    asset = client.get("/admin/assets/admin.js")
    assert "no-store" not in asset.headers.get("Cache-Control", "")


@pytest.mark.parametrize("env, base, expected", [("production", "https://rt.example", True),
                                                 ("production", "http://rt.example", False),
                                                 ("development", "https://rt.example", False)])
def test_hsts_only_in_production_over_https(tmp_path, env, base, expected):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/db.sqlite3",
                      "RETAINFUL_ENV": env, "PUBLIC_BASE_URL": base})
    response = app.test_client().get("/admin/login")
    assert (response.headers.get("Strict-Transport-Security") == "max-age=31536000") is expected
