"""Liveness with a real database round trip, for load balancers and orchestrators."""
from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, jsonify
from sqlalchemy.exc import SQLAlchemyError

from retainful.extensions import db

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        db.session.execute(sa.text("SELECT 1"))
    except SQLAlchemyError:
        log.warning("health check: database unavailable", exc_info=True)
        db.session.rollback()
        return jsonify(status="unavailable"), 503
    return jsonify(status="ok")
