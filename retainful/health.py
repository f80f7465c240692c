"""Liveness with a real database round trip, for load balancers and orchestrators: answered within a second."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from retainful.database import HealthCheck
from retainful.extensions import db

bp = Blueprint("health", __name__)


@bp.record_once
def _check_for(state) -> None:
    with state.app.app_context():
        state.app.extensions["retainful_health"] = HealthCheck(db.engine.url)


@bp.get("/healthz")
def healthz():
    if not current_app.extensions["retainful_health"].healthy():
        return jsonify(status="unavailable"), 503
    return jsonify(status="ok")
