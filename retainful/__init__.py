"""Retainful: cart recovery for WooCommerce-style stores."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from retainful import config, logs
from retainful.extensions import db, migrate

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """SQLite enforces foreign keys only when asked; WAL lets the web app read while the scheduler writes. The wait
    for the write lock is set per checkout (database.bound_waits): web requests wait less than jobs."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


sa.event.listen(sa.engine.Engine, "connect", _sqlite_pragmas)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """The application factory: settings from the environment, then ``test_config`` on top."""
    app = Flask(__name__, instance_path=os.environ.get("RETAINFUL_INSTANCE_PATH") or None,
                instance_relative_config=True)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(config.load(app.instance_path))
    if test_config:
        app.config.from_mapping(test_config)
    app.config["SQLALCHEMY_DATABASE_URI"] = config.normalise_database_url(app.config["SQLALCHEMY_DATABASE_URI"])
    # Connections are held only for short statements (never across a provider call), so a small pool serves them;
    # it also keeps several workers within PostgreSQL's max_connections.
    # hide_parameters: a database error's text (logged, and shown in tracebacks) never carries the bound values,
    # which are the shoppers' emails, phones and names.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        "pool_size": 5, "max_overflow": 10, **app.config["SQLALCHEMY_ENGINE_OPTIONS"], "hide_parameters": True}
    logs.configure(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)

    if app.config["TRUSTED_PROXY_COUNT"]:  # the client address (login throttling) comes from their X-Forwarded-For
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["TRUSTED_PROXY_COUNT"], x_proto=0)

    from retainful import api, database, headers, health, metrics, public
    from retainful.api import errors
    from retainful.api import plugin as api_plugin

    database.bound_waits(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(public.bp)
    app.register_blueprint(api_plugin.bp)
    errors.register(app)
    headers.register(app)  # security headers on every response
    logs.init_app(app)  # request ids (X-Request-ID) and an access log line per request
    metrics.init_app(app)  # request counts and durations, and /metrics

    from admin import init_admin

    init_admin(app)  # the panel at /admin: logins, CSRF on every form (the API and public blueprints are exempt)

    from retainful import cli

    cli.register(app)
    return app
