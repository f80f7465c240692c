"""Liveness and readiness for load balancers and orchestrators.

/healthz is liveness: a real database round trip, answered within a second, nothing else. /readyz is readiness:
the database answers within a second, its schema is at the newest migration, and some worker recorded a heartbeat
in the last minute (retainful.heartbeat), else 503 with the check that failed.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify

from retainful import status
from retainful.database import HealthCheck
from retainful.extensions import db

bp = Blueprint("health", __name__)

OK = "ok"


@bp.record_once
def _check_for(state) -> None:
    from retainful import MIGRATIONS_DIR

    with state.app.app_context():
        state.app.extensions["retainful_health"] = HealthCheck(db.engine.url)
    state.app.extensions["retainful_migration_head"] = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


@bp.get("/healthz")
def healthz():
    if not current_app.extensions["retainful_health"].healthy():
        return jsonify(status="unavailable"), 503
    return jsonify(status="ok")


def _migrations() -> str:
    head = current_app.extensions["retainful_migration_head"]
    try:
        current = db.session.scalar(sa.text("SELECT version_num FROM alembic_version"))
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        return "not migrated"
    return OK if current == head else f"at {current}, newest is {head}"


def _worker() -> str:
    try:
        age = status.freshest_heartbeat_age()
    except sa.exc.SQLAlchemyError:  # the schema predates heartbeats, or the database went away just now
        db.session.rollback()
        return "unknown"
    if age is None:
        return "no worker has run"
    if age >= status.WORKER_STALE_SECONDS:
        return f"last heartbeat {age:.0f} s ago"
    return OK


@bp.get("/readyz")
def readyz():
    if current_app.extensions["retainful_health"].healthy():
        checks = {"database": OK, "migrations": _migrations(), "worker": _worker()}
    else:
        checks = {"database": "unavailable", "migrations": "unknown", "worker": "unknown"}
    ready = all(value == OK for value in checks.values())
    return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503
