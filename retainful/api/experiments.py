"""A/B experiments over the API: create, list, read one (variants side by side with results), stop, apply the
winner. A thin adapter over retainful.experiments; another store's experiment id answers 404 like an unknown one."""
from __future__ import annotations

from flask import current_app, jsonify

from retainful import experiments
from retainful.api.errors import ApiError
from retainful.api.reports import jsonable
from retainful.api.request import current_store, json_body, row_or_404
from retainful.api.schemas import ExperimentIn, ExperimentOut
from retainful.api.views import bp
from retainful.urls import public_urls

experiment_in, experiment_out = ExperimentIn(), ExperimentOut()


def _json(experiment):
    store = current_store()
    return experiment_out.dump(jsonable(experiments.describe(experiment, store), store.currency))


def _experiment_or_404(experiment_id: str):
    return row_or_404("experiment", experiments.get, experiment_id)


def _conflict(call, *args):
    try:
        return call(*args)
    except experiments.ExperimentConflict as error:
        raise ApiError(409, "conflict", error.message, {error.field: [error.message]}) from None


@bp.post("/experiments")
def post_experiment():
    data = json_body(experiment_in)
    experiment = _conflict(lambda: experiments.create(
        current_store(), public_urls(current_app), subject=data["subject"], variants=data["variants"],
        metric=data["metric"], auto_apply=data["auto_apply"]))
    return jsonify(_json(experiment)), 201


@bp.get("/experiments")
def list_experiments():
    return jsonify({"experiments": [_json(e) for e in experiments.list_for(current_store())]})


@bp.get("/experiments/<experiment_id>")
def get_experiment(experiment_id: str):
    return jsonify(_json(_experiment_or_404(experiment_id)))


@bp.post("/experiments/<experiment_id>/stop")
def stop_experiment(experiment_id: str):
    return jsonify(_json(_conflict(experiments.stop, _experiment_or_404(experiment_id))))


@bp.post("/experiments/<experiment_id>/apply")
def apply_experiment(experiment_id: str):
    experiment = _experiment_or_404(experiment_id)
    return jsonify(_json(_conflict(experiments.apply_winner, experiment, current_store(), public_urls(current_app))))
