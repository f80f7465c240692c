"""Settings, health, migrations, security headers and the OpenAPI document."""
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from retainful import config, create_app
from retainful.extensions import db
from retainful.models import Cart, Customer
from retainful.rendering.links import unsubscribe_token
from tests.conftest import T0, _postgres_server_url, cart_body, make_app, writes_locked

ROOT = Path(__file__).resolve().parent.parent


def _sqlite_added_column_fks(conn, diff) -> list:
    """The diff without SQLite's foreign keys of added columns: ALTER TABLE ADD COLUMN ... REFERENCES makes an unnamed
    key whose ON DELETE reflection does not read, so autogenerate sees it removed and the model's named one added. Such
    a pair is dropped when SQLite's own PRAGMA shows the key with the model's ON DELETE."""
    def key(fk):
        return fk.parent.name, tuple(c.name for c in fk.columns), fk.referred_table.name

    added = {key(item[1]): item for item in diff if item[0] == "add_fk"}
    kept, matched = [], set()
    for item in diff:
        if item[0] == "remove_fk" and item[1].name is None and key(item[1]) in added:
            model_fk = added[key(item[1])][1]
            table, columns, referred = key(item[1])
            pragma = {(row[3], row[2]): row[6] for row in conn.exec_driver_sql(f"PRAGMA foreign_key_list({table})")}
            if pragma.get((columns[0], referred)) == (model_fk.ondelete or "NO ACTION"):
                matched.add(key(item[1]))
                continue
        kept.append(item)
    return [item for item in kept if not (item[0] == "add_fk" and key(item[1]) in matched)]


def _fk_signature(constraint) -> tuple:
    return (constraint.parent.name, tuple(e.parent.name for e in constraint.elements),
            constraint.referred_table.name, tuple(e.column.name for e in constraint.elements))


def _sqlite_inline_references(conn, diff: list) -> list:
    """SQLite adds a column's foreign key inline (``ALTER TABLE … ADD COLUMN … REFERENCES … ON DELETE …``), and
    SQLAlchemy reflects no name nor ``ON DELETE`` for an inline reference: such a pair of remove/add is the same key
    when SQLite's own ``PRAGMA foreign_key_list`` has the model's column, target and delete rule."""
    added = {_fk_signature(d[1]): d for d in diff if isinstance(d, tuple) and d[0] == "add_fk"}
    removed = {_fk_signature(d[1]): d for d in diff if isinstance(d, tuple) and d[0] == "remove_fk"}
    same = []
    for signature in added.keys() & removed.keys():
        table, columns, target, target_columns = signature
        pragma = {(row[3], row[2], row[4], row[6]) for row in conn.exec_driver_sql(
            f"PRAGMA foreign_key_list({table})")}
        rule = (added[signature][1].ondelete or "NO ACTION").upper()
        if len(columns) == 1 and (columns[0], target, target_columns[0], rule) in pragma:
            same += [added[signature], removed[signature]]
    return [d for d in diff if not any(d is s for s in same)]


@pytest.mark.filterwarnings("ignore:.*expression-based index")  # SQLite cannot reflect lower(email) indexes
def test_migrations_match_the_models(app):
    with app.app_context(), db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        if conn.dialect.name == "sqlite":
            diff = _sqlite_added_column_fks(conn, diff)
            diff = _sqlite_inline_references(conn, diff)
    assert diff == []


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_healthz_503_when_database_is_down(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/missing/dir/db.sqlite3", "TESTING": True})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503 and response.get_json() == {"status": "unavailable"}


def _timed_healthz(client):
    started = time.monotonic()
    response = client.get("/healthz")
    return response, time.monotonic() - started


def _locked_health(app) -> int:
    """/healthz while writes are locked: SQLite would answer every write 503, so it is not healthy; PostgreSQL's
    check is a read."""
    return 503 if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite") else 200


def test_healthz_answers_within_a_second_while_writes_are_locked(app, client):
    with writes_locked(app):
        response, elapsed = _timed_healthz(client)
    assert elapsed < 1 and response.status_code == _locked_health(app)
    assert _timed_healthz(client)[0].status_code == 200


def test_queued_writes_on_a_locked_database_do_not_starve_healthz(app, shop):
    """The audit's case through the real server: 8 writes fill waitress's 8 threads while the lock is held. Each is
    answered 503 after half a second (it was a 500 after 10 s), so /healthz gets a thread and answers promptly."""
    import requests
    from waitress import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=8)
    threading.Thread(target=server.run, daemon=True).start()
    base = f"http://127.0.0.1:{server.effective_port}"

    def put(i):
        started = time.monotonic()
        response = requests.put(f"{base}/api/v1/carts/q{i}", json=cart_body(), headers=shop.headers, timeout=30)
        return response.status_code, time.monotonic() - started

    try:
        with writes_locked(app), ThreadPoolExecutor(8) as pool:
            puts = [pool.submit(put, i) for i in range(8)]
            time.sleep(0.1)  # the writes hold every thread
            started = time.monotonic()
            health = requests.get(f"{base}/healthz", timeout=30)
            health_elapsed = time.monotonic() - started
            results = [p.result() for p in puts]
    finally:
        server.close()
    assert [status for status, _ in results] == [503] * 8 and max(t for _, t in results) < 3
    assert health.status_code == _locked_health(app) and health_elapsed < 2  # a thread's wait, then the check's bound


@contextmanager
def silent_server():
    """A port on 127.0.0.1 that accepts connections and never answers: a hung database server."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_hung_postgresql_server_gets_503s_and_healthz_answers_within_a_second():
    with silent_server() as port:
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://postgres@127.0.0.1:{port}/x",
                          "TESTING": True})
        client = app.test_client()
        for _ in range(2):  # the second check joins the one still waiting, it does not start another
            response, elapsed = _timed_healthz(client)
            assert response.status_code == 503 and elapsed < 1
        started = time.monotonic()
        api = client.get("/api/v1/carts/c", headers={"Authorization": "Bearer rtf_" + "k" * 43})
        assert api.status_code == 503 and time.monotonic() - started < 10  # the connect timeout, not TCP's minutes


def _no_such_database() -> str:
    server = _postgres_server_url()
    if server is None:
        pytest.skip("PostgreSQL is not reachable")
    return sa.make_url(server).set(database="retainful_no_such_database").render_as_string(hide_password=False)


@pytest.mark.parametrize("unreachable", [lambda: f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/x",
                                         _no_such_database], ids=["closed port", "no such database"])
def test_requests_are_503_not_500_when_postgresql_is_unreachable(unreachable):
    url = unreachable()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    client = app.test_client()
    api = client.put("/api/v1/carts/down1", json=cart_body(), headers={"Authorization": "Bearer rtf_" + "k" * 43})
    assert api.status_code == 503 and api.headers["Retry-After"] == "5"
    assert api.get_json()["error"]["code"] == "database_unavailable"
    with app.app_context():
        token = unsubscribe_token(Customer(id=1, store_id=1))
    for path in ("/r/AyTQuyjJ8Z87", f"/unsubscribe/{token}"):  # a shopper sees a page, not a traceback's 500
        page = client.get(path)
        assert page.status_code == 503 and page.mimetype == "text/html" and page.headers["Retry-After"] == "5"
        assert b"Please try again in a minute" in page.data
    assert client.get("/healthz").status_code == 503


def test_no_free_connection_in_the_pool_is_503(database_url, shop):
    """Every pooled connection busy (a burst, or slow statements) is "retry later" too, after the pool's wait."""
    app = make_app(database_url, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.2})
    with app.app_context(), db.engine.connect():
        response = app.test_client().get("/api/v1/carts/c", headers=shop.headers)
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "database_unavailable"


def test_a_wrong_statement_stays_a_500_not_a_retry_later(tmp_path):
    """Only busy or unreachable is 503: a schema that was never migrated is a bug to fix, not to retry."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/empty.sqlite3", "TESTING": True})
    response = app.test_client().get("/api/v1/carts/c", headers={"Authorization": "Bearer rtf_" + "k" * 43})
    assert response.status_code == 500 and response.get_json()["error"]["code"] == "internal_error"
    assert "Retry-After" not in response.headers


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


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "soon"])
def test_web_lock_timeout_must_be_a_positive_number(tmp_path, monkeypatch, value):
    monkeypatch.setenv("WEB_LOCK_TIMEOUT_MS", value)
    with pytest.raises(config.ConfigError, match="WEB_LOCK_TIMEOUT_MS"):
        config.load(str(tmp_path))
    monkeypatch.setenv("WEB_LOCK_TIMEOUT_MS", "250")
    assert config.load(str(tmp_path))["WEB_LOCK_TIMEOUT_MS"] == 250


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
        if rule.rule.startswith("/api/v1") and rule.endpoint != "api.openapi" or rule.rule in (
                "/healthz", "/readyz", "/metrics"):
            path = rule.rule.replace("<path:", "<").replace("<", "{").replace(">", "}")
            routes |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == documented
    cart_in = spec["components"]["schemas"]["CartIn"]
    assert set(cart_in["required"]) == {"currency", "items", "subtotal", "total"}
    assert spec["components"]["schemas"]["CartOut"]["properties"]["status"]["enum"][0] == "live"
    assert all("503" in operation["responses"] for ops in spec["paths"].values() for operation in ops.values()
               if isinstance(operation, dict) and "responses" in operation)


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
