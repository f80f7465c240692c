"""The store's automations over the API: list, read one, replace one (the same shape as read)."""
from __future__ import annotations

from flask import jsonify

from retainful import automations
from retainful.api.errors import ApiError
from retainful.api.reports import jsonable
from retainful.api.request import current_store, json_body
from retainful.api.schemas import AutomationIn
from retainful.api.views import bp
from retainful.automations import registry
from retainful.errors import FieldError

automation_in = AutomationIn()


def _kind_or_404(kind: str) -> str:
    if registry.get(kind) is None:
        raise ApiError(404, "not_found", f"No automation {kind[:40]!r}; one of {', '.join(registry.kinds())}.")
    return kind


def _json(data):
    return jsonify(jsonable(data, current_store().currency))


@bp.get("/automations")
def list_automations():
    return _json({"automations": automations.describe_all(current_store())})


@bp.get("/automations/<kind>")
def get_automation(kind: str):
    return _json(automations.describe(current_store(), _kind_or_404(kind)))


@bp.put("/automations/<kind>")
def put_automation(kind: str):
    _kind_or_404(kind)
    data = json_body(automation_in)
    if data.get("kind", kind) != kind:
        raise FieldError("kind", f"Must be {kind!r}, the path's.")
    return _json(automations.replace(current_store(), kind, enabled=data["enabled"], steps=data["steps"]))
