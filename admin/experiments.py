"""The Experiments pages: the store's A/B tests, a new one from an automation step, and one test with its variants
side by side (results, probability best, intervals, the decision); stop, apply the winner. Marketers, owners and
admins (the template capability); every call is one function of ``retainful.experiments``."""
from __future__ import annotations

from flask import current_app, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _

from retainful_admin import forms
from retainful_admin.i18n import label, word
from retainful_admin.security import SecuredMixin, current_store, get_scoped_or_404
from retainful import automations, experiments, users
from retainful.channels import names
from retainful.errors import FieldError
from retainful.experiments import stats
from retainful.experiments.service import MAX_VARIANTS, METRICS, parse_subject
from retainful.extensions import db
from retainful.models import Experiment
from retainful.rendering.engine import template_keys
from retainful.urls import public_urls


def _steps(store) -> list[tuple[str, str]]:
    """Every listed automation's steps as (subject name, label) for the form's select."""
    return [(f"automation:{a['kind']}:{s['position']}",
             _("%(automation)s: step %(n)s (%(delay)s)", automation=word(a["title"]), n=s["position"],
               delay=s["delay"]))
            for a in automations.describe_all(store) for s in a["steps"]]


def _subject(form) -> dict:
    try:
        return parse_subject(form.get("subject", "")).describe()
    except (ValueError, AttributeError):
        raise FieldError("subject", _("Choose an automation step.")) from None


def _variants(form) -> tuple[list[dict], list[int]]:
    """Variants 1..4 from the form, and the slot each came from; a variant without a name is left out, the first
    is the control (the step's own templates)."""
    variants, slots = [], []
    for n in range(1, MAX_VARIANTS + 1):
        name = forms.text(form, f"name-{n}")
        if name is None:
            continue
        templates = {}
        for channel in names():
            key, source = forms.text(form, f"{channel}-key-{n}"), forms.text(form, f"{channel}-source-{n}")
            if key or source:
                templates[channel] = {"source": source} if source else {"key": key}
        weight = forms.integer(form, f"weight-{n}", _("Weight"), required=False)
        weight = 1 if weight is None else weight
        if not 1 <= weight <= 100:
            raise FieldError(f"weight-{n}", _("Weight: from 1 to 100."))
        variants.append({"name": name[:64], "weight": weight, "templates": templates if n > 1 else {}})
        slots.append(n)
    return variants, slots


def _form_field(field: str, slots: list[int]) -> str:
    """The form's field for a domain error's field: ``variants.1.templates.email.source`` -> ``email-source-3``
    when the second variant came from slot 3."""
    parts = field.split(".")
    if parts[0] == "subject":
        return "subject"
    if parts[0] != "variants" or len(parts) < 2 or not parts[1].isdigit() or int(parts[1]) >= len(slots):
        return parts[0] if parts[0] in ("metric", "auto_apply") else "name-2"
    slot = slots[int(parts[1])]
    if len(parts) >= 4 and parts[2] == "templates":
        return f"{parts[3]}-{parts[4] if len(parts) > 4 else 'source'}-{slot}"
    return f"{parts[2] if len(parts) > 2 else 'name'}-{slot}"


def _labels() -> dict[str, str]:
    """Every field of the new-experiment form in words, for the list of refused fields."""
    labels = {"subject": _("Automation step"), "metric": _("Winner by")}
    for n in range(1, MAX_VARIANTS + 1):
        variant = _("Control") if n == 1 else _("Variant") + f" {n}"
        labels.update({f"name-{n}": f"{variant}: {_('Name')}", f"weight-{n}": f"{variant}: {_('Weight')}"})
        for channel in names():
            labels[f"{channel}-key-{n}"] = f"{variant}: {label(channel)}, {_('another template')}"
            labels[f"{channel}-source-{n}"] = f"{variant}: {label(channel)}, {_('its own source')}"
    return labels


class ExperimentsView(SecuredMixin, BaseView):
    capability = users.TEMPLATES

    def _list(self, errors: dict[str, str] | None = None, status: int = 200):
        store = current_store()
        found = experiments.list_for(store)
        return self.render("retainful_admin/experiments.html", experiments=found,
                           described={e.id: experiments.describe(e, store) for e in found}, steps=_steps(store),
                           chosen=request.values.get("subject", ""), metrics=METRICS, channels=names(),
                           template_choices={channel: [("", _("the step's own"))] + [
                               (key, key) for key in template_keys(channel)] for channel in names()},
                           slots=range(1, MAX_VARIANTS + 1), errors=errors or {}, labels=_labels(),
                           form=request.form if errors else {}), status

    @expose("/")
    def index(self):
        return self._list()

    @expose("/new", methods=("POST",))
    def create(self):
        form, slots = request.form, []
        try:
            variants, slots = _variants(form)
            experiment = experiments.create(
                current_store(), public_urls(current_app), subject=_subject(form), variants=variants,
                metric=form.get("metric", "orders"), auto_apply=forms.flag(form, "auto_apply"))
        except FieldError as error:
            db.session.rollback()
            field = error.field if error.field in _labels() else _form_field(error.field, slots)
            return self._list({field: forms.field_message(error)}, 400)
        flash(_("Experiment started."), "success")
        return redirect(url_for(".detail", experiment_id=experiment.id))

    @expose("/<int:experiment_id>")
    def detail(self, experiment_id: int):
        experiment = get_scoped_or_404(Experiment, experiment_id)
        return self.render("retainful_admin/experiment.html", experiment=experiment,
                           view=experiments.describe(experiment, current_store()), rule=stats.RULE,
                           min_recipients=stats.MIN_RECIPIENTS)

    def _act(self, experiment_id: int, action, done: str):
        experiment = get_scoped_or_404(Experiment, experiment_id)
        try:
            action(experiment)
        except FieldError as error:
            db.session.rollback()
            flash(word(error.message), "danger")
        else:
            flash(done, "success")
        return redirect(url_for(".detail", experiment_id=experiment_id))

    @expose("/<int:experiment_id>/stop", methods=("POST",))
    def stop(self, experiment_id: int):
        return self._act(experiment_id, experiments.stop, _("Experiment stopped."))

    @expose("/<int:experiment_id>/apply", methods=("POST",))
    def apply(self, experiment_id: int):
        return self._act(experiment_id, lambda e: experiments.apply_winner(e, current_store(),
                                                                           public_urls(current_app)),
                         _("The winner's templates are applied."))
