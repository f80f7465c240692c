"""Experiments: create one over an automation step, assign shoppers at send time, read results, let the sequential
rule decide, apply the winner, stop. Adapters (API, admin, jobs) call these; the statistics are in ``stats``."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from retainful import clock
from retainful.automations import registry
from retainful.automations.settings import current_settings
from retainful.campaigns.automation import DEFAULT_TEMPLATE as DEFAULT_CAMPAIGN_TEMPLATE
from retainful.campaigns.sending import own_source
from retainful.channels import names
from retainful.errors import FieldError
from retainful.experiments import stats
from retainful.experiments.assignment import assign
from retainful.extensions import db
from retainful.models import (Campaign, CampaignState, Experiment, ExperimentState, Message, MessageStatus, Order,
                              Store, Variant)
from retainful.orders.attribution import VOID_STATUSES
from retainful.rendering.engine import TemplateError, default_source, template_keys
from retainful.rendering.overrides import check_source, current_sources, save_override
from retainful.urls import PublicUrls
from retainful.words import N_

log = logging.getLogger(__name__)

METRICS = ("orders", "clicked")  # per recipient: who ordered (credited to the step), who clicked
MIN_VARIANTS, MAX_VARIANTS = 2, 4
CENT = Decimal("0.01")


class ExperimentConflict(FieldError):
    code = "conflict"


@dataclass(frozen=True)
class Subject:
    """What an experiment varies, and how: its template key (what a variant's source must render as), the source a
    variant's override stands for, and where a winner goes for everyone after."""

    name: str
    template_key: str

    def source(self, channel: str, override: dict, overrides: dict[tuple[str, str], str]) -> str:
        """A variant's override as the Jinja source to render: its own, else another key's (the store's, else the
        file default)."""
        if "source" in override:
            return override["source"]
        key = override["key"]
        return overrides.get((channel, key)) or default_source(channel, key)

    def check(self, channel: str, source: Any, field: str) -> dict:
        """The override as stored, or FieldError."""
        if not isinstance(source, str):
            raise FieldError(field, N_("A template's text."))
        return {"source": source}

    def apply(self, store: Store, urls: PublicUrls, winner: Variant, author: str) -> None:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True)
class AutomationStep(Subject):
    kind: str
    position: int

    @classmethod
    def of(cls, kind: str, position: int) -> "AutomationStep":
        return cls(f"automation:{kind}:{position}", registry.get(kind).template_key(position), kind, position)

    def apply(self, store, urls, winner, author):
        """The winner's templates become the step's: a new template version per channel (the editor's history
        shows where it came from)."""
        in_force = current_sources(store.id)
        for channel, override in winner.templates.items():
            save_override(store, urls, channel, self.template_key, self.source(channel, override, in_force),
                          author=author)

    def describe(self):
        return {"automation": self.kind, "step": self.position}


@dataclass(frozen=True)
class CampaignSubject(Subject):
    """A campaign's variants have the campaign's own template shape: ``{"key": ...}`` or ``{"source": {"subject",
    "html", "preheader"}}`` (email) / ``{"source": {"text"}}`` (SMS)."""

    campaign_id: int

    @classmethod
    def of(cls, campaign_id: int) -> "CampaignSubject":
        return cls(f"campaign:{campaign_id}", DEFAULT_CAMPAIGN_TEMPLATE, campaign_id)

    def source(self, channel, override, overrides):
        if "source" in override:
            return own_source(channel, override["source"])
        return super().source(channel, override, overrides)

    def check(self, channel, source, field):
        parts = ("subject", "html") if channel == "email" else ("text",)
        if not isinstance(source, dict) or any(not isinstance(source.get(p), str) or not source[p] for p in parts):
            raise FieldError(field, N_("An object with %(parts)s (the campaign's template shape).",
                                         parts=" and ".join(parts)))
        return {"source": {p: source[p] for p in (*parts, "preheader") if isinstance(source.get(p), str)}}

    def apply(self, store, urls, winner, author):
        """The winner's templates become the campaign's, so its recipients not yet sent get them."""
        campaign = db.session.get(Campaign, self.campaign_id)
        if campaign is not None:
            campaign.templates = {**campaign.templates, **winner.templates}

    def describe(self):
        return {"campaign": self.campaign_id}


def parse_subject(name: str) -> Subject:
    kind, _, rest = name.partition(":")
    if kind == "campaign":
        return CampaignSubject.of(int(rest))
    automation, _, position = rest.partition(":")
    return AutomationStep.of(automation, int(position))


def subject_of(message: Message) -> str | None:
    """The experiment subject a message belongs to (None for test-sends and stepless kinds)."""
    if message.campaign_id is not None:
        return f"campaign:{message.campaign_id}"
    return f"automation:{message.kind}:{message.step.position}" if message.step is not None else None


# -- creating -------------------------------------------------------------------------------------------------------

def _subject(store: Store, subject: dict) -> Subject:
    if "campaign" in subject:
        campaign = db.session.get(Campaign, subject["campaign"])
        if campaign is None or campaign.store_id != store.id:
            raise FieldError("subject.campaign", N_("No campaign with this id."))
        if campaign.state not in (CampaignState.DRAFT, CampaignState.SCHEDULED):
            raise FieldError("subject.campaign", N_("Only a draft or scheduled campaign can be tested."))
        return CampaignSubject.of(campaign.id)
    kind, position = subject.get("automation"), subject.get("step")
    if kind is None or position is None:
        raise FieldError("subject", N_("Either {automation, step} or {campaign}."))
    if registry.get(kind) is None or kind not in registry.kinds():
        raise FieldError("subject.automation", N_("One of %(choices)s.", choices=", ".join(registry.kinds())))
    positions = [step.position for step in current_settings(store.id, kind).steps]
    if position not in positions:
        raise FieldError("subject.step", N_("%(kind)s has steps %(positions)s.", kind=kind,
                                              positions=", ".join(map(str, positions))))
    return AutomationStep.of(kind, position)


def _templates(store: Store, urls: PublicUrls, subject: Subject, templates: dict, field: str) -> dict:
    """Each channel's override checked: another template key of the channel, or a source that renders as the
    subject's template (the same sample and recent carts a save must pass)."""
    checked = {}
    for channel, override in templates.items():
        where = f"{field}.{channel}"
        if channel not in names():
            raise FieldError(where, N_("One of %(choices)s.", choices=", ".join(names())))
        key, source = override.get("key"), override.get("source")
        if (key is None) == (source is None):
            raise FieldError(where, N_("Give either key (another template) or source (a template's text)."))
        if key is not None:
            if key not in template_keys(channel):
                raise FieldError(f"{where}.key", N_("No %(channel)s template %(key)r.", channel=channel, key=key))
            checked[channel] = {"key": key}
            continue
        checked[channel] = subject.check(channel, source, f"{where}.source")
        try:
            check_source(store, urls, channel, subject.template_key, subject.source(channel, checked[channel], {}))
        except TemplateError as error:
            raise FieldError(f"{where}.source", error.message) from None
    return checked


def create(store: Store, urls: PublicUrls, *, subject: dict, variants: list[dict], metric: str = "orders",
           auto_apply: bool = False) -> Experiment:
    """A running experiment over one automation step (``{"automation": kind, "step": n}``) or a draft or scheduled
    campaign (``{"campaign": id}``); the first variant is the control. Refused (naming the field) when the subject
    has one running already, or a variant's template does not render."""
    subject = _subject(store, subject)
    if metric not in METRICS:
        raise FieldError("metric", N_("One of %(choices)s.", choices=", ".join(METRICS)))
    if not MIN_VARIANTS <= len(variants) <= MAX_VARIANTS:
        raise FieldError("variants", N_("%(low)s to %(high)s variants.", low=MIN_VARIANTS, high=MAX_VARIANTS))
    seen = set()
    rows = []
    for index, variant in enumerate(variants):
        name = variant["name"].strip()
        if not name or name.casefold() in seen:
            raise FieldError(f"variants.{index}.name", N_("A name of its own (the names must differ)."))
        seen.add(name.casefold())
        rows.append(Variant(position=index + 1, name=name, weight=variant["weight"],
                            templates=_templates(store, urls, subject, variant.get("templates", {}),
                                                 f"variants.{index}.templates")))
    experiment = Experiment(store_id=store.id, subject=subject.name, metric=metric, auto_apply=auto_apply,
                            state=ExperimentState.RUNNING, variants=rows)
    try:
        with db.session.begin_nested():
            db.session.add(experiment)
    except IntegrityError:
        raise ExperimentConflict("subject", N_("This has a running experiment already: stop it first.")) from None
    db.session.commit()
    return experiment


# -- sending --------------------------------------------------------------------------------------------------------

def running_by_subject(store_ids: Iterable[int]) -> dict[tuple[int, str], Experiment]:
    """The running experiments of these stores with their variants, in one query: what a batch of sends reads."""
    experiments = db.session.scalars(
        sa.select(Experiment).options(selectinload(Experiment.variants))
        .where(Experiment.store_id.in_(list(store_ids)), Experiment.state == ExperimentState.RUNNING))
    return {(e.store_id, e.subject): e for e in experiments}


def variant_for(running: dict[tuple[int, str], Experiment], message: Message) -> Variant | None:
    """The variant this message's shopper is in, when its step is under a running experiment."""
    experiment = running.get((message.store_id, subject_of(message) or ""))
    if experiment is None or message.customer_id is None:
        return None
    return assign(experiment.id, experiment.variants, message.customer_id)


def variant_source(variant: Variant | None, channel: str, overrides: dict[tuple[str, str], str]) -> str | None:
    """The source the variant renders on this channel instead of the message's own template (None: the own)."""
    override = variant.templates.get(channel) if variant is not None else None
    if override is None:
        return None
    return parse_subject(variant.experiment.subject).source(channel, override, overrides)


# -- results --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Counts:
    sent: int = 0
    opened: int = 0
    clicked: int = 0
    orders: int = 0  # recipients with an order credited to the step's messages
    order_count: int = 0
    revenue: Decimal = Decimal(0)
    revenue_squares: Decimal = Decimal(0)


def counts(experiment: Experiment, store: Store) -> dict[int, Counts]:
    """Per variant id: distinct recipients sent, opened, clicked and ordering, and their orders' revenue (in the
    store's currency, refunds taken back, voided orders left out)."""
    ids = [v.id for v in experiment.variants]
    sent = {variant: (recipients, opened, clicked) for variant, recipients, opened, clicked in db.session.execute(
        sa.select(Message.variant_id, sa.func.count(sa.distinct(Message.customer_id)),
                  sa.func.count(sa.distinct(sa.case((Message.opened_at.is_not(None), Message.customer_id)))),
                  sa.func.count(sa.distinct(sa.case((Message.clicked_at.is_not(None), Message.customer_id)))))
        .where(Message.variant_id.in_(ids), Message.status == MessageStatus.SENT).group_by(Message.variant_id))}
    credited = (sa.select(Message.variant_id.label("variant_id"), Order.id.label("order_id"),
                          Message.customer_id.label("customer_id"), Order.revenue.label("revenue"))
                .join(Message, Message.id == Order.credited_message_id)
                .where(Message.variant_id.in_(ids), Order.status.not_in(VOID_STATUSES),
                       Order.currency == store.currency).subquery())
    ordered = {variant: (buyers, orders, Decimal(revenue), Decimal(squares))
               for variant, buyers, orders, revenue, squares in db.session.execute(
                   sa.select(credited.c.variant_id, sa.func.count(sa.distinct(credited.c.customer_id)),
                             sa.func.count(sa.distinct(credited.c.order_id)),
                             sa.func.coalesce(sa.func.sum(credited.c.revenue), 0),
                             sa.func.coalesce(sa.func.sum(credited.c.revenue * credited.c.revenue), 0))
                   .group_by(credited.c.variant_id))}
    return {i: Counts(*sent.get(i, (0, 0, 0)), *ordered.get(i, (0, 0, Decimal(0), Decimal(0)))) for i in ids}


def arms(experiment: Experiment, data: dict[int, Counts]) -> list[stats.Arm]:
    """The variants' data as the rule reads it, successes by the experiment's metric."""
    return [stats.Arm(c.sent, min(c.sent, c.orders if experiment.metric == "orders" else c.clicked),
                      float(c.revenue), float(c.revenue_squares), c.order_count)
            for c in (data[v.id] for v in experiment.variants)]


def _money(value: float) -> Decimal:
    """An interval's end (a statistic, computed in floats) as money for display."""
    return Decimal(repr(round(value, 2))).quantize(CENT)


def describe(experiment: Experiment, store: Store) -> dict[str, Any]:
    """The experiment as the API and the admin show it: variants side by side with their results and posteriors."""
    data = counts(experiment, store)
    observed = arms(experiment, data)
    variants = []
    for variant, arm, summary in zip(experiment.variants, observed, stats.summaries(observed)):
        c = data[variant.id]
        variants.append({
            "id": variant.id, "name": variant.name, "weight": variant.weight, "control": variant.position == 1,
            "templates": {channel: dict(t) for channel, t in variant.templates.items()},
            "sent": c.sent, "opened": c.opened, "clicked": c.clicked, "orders": c.orders, "revenue": c.revenue,
            "revenue_per_recipient": (c.revenue / c.sent).quantize(CENT) if c.sent else Decimal(0),
            "revenue_interval": [_money(summary.revenue_interval[0]), _money(summary.revenue_interval[1])],
            "rate": round(arm.rate, 6),
            "probability_best": round(summary.probability_best, 4),
            "interval": [round(summary.interval[0], 6), round(summary.interval[1], 6)]})
    verdict = stats.verdict(observed)
    winner = next((v.name for v in experiment.variants if v.id == experiment.winner_id), None)
    return {"id": experiment.id, "subject": parse_subject(experiment.subject).describe(),
            "metric": experiment.metric, "state": experiment.state, "auto_apply": experiment.auto_apply,
            "created_at": experiment.created_at, "stopped_at": experiment.stopped_at, "variants": variants,
            "current": {"leader_p_value": round(verdict.p_value, 6), "threshold": verdict.threshold,
                        "min_recipients": stats.MIN_RECIPIENTS},
            "decision": {"winner": winner, "decided_at": experiment.decided_at, "rule": experiment.decision_rule,
                         "p_value": experiment.decision_p_value, "applied": experiment.applied_at is not None,
                         "applied_at": experiment.applied_at}}


def list_for(store: Store) -> list[Experiment]:
    return list(db.session.scalars(sa.select(Experiment).options(selectinload(Experiment.variants))
                                   .where(Experiment.store_id == store.id).order_by(Experiment.id.desc())))


def get(store: Store, experiment_id: int) -> Experiment | None:
    """The store's experiment (another store's id reads as none)."""
    return db.session.scalar(sa.select(Experiment).where(Experiment.id == experiment_id,
                                                         Experiment.store_id == store.id))


# -- deciding -------------------------------------------------------------------------------------------------------

def evaluate(experiment: Experiment, store: Store, urls: PublicUrls) -> bool:
    """Let the rule look at a running experiment; on a winner record the decision (and the data it saw) and, with
    auto_apply, apply it. True when it was decided now."""
    if experiment.state != ExperimentState.RUNNING:
        return False
    data = counts(experiment, store)
    verdict = stats.verdict(arms(experiment, data))
    if verdict.winner is None:
        return False
    experiment.state, experiment.decided_at = ExperimentState.DECIDED, clock.now()
    experiment.winner_id = experiment.variants[verdict.winner].id
    experiment.decision_rule, experiment.decision_p_value = stats.RULE, verdict.p_value
    experiment.decision_stats = {"threshold": verdict.threshold, "variants": [
        {"id": v.id, "sent": data[v.id].sent, "orders": data[v.id].orders, "clicked": data[v.id].clicked}
        for v in experiment.variants]}
    db.session.commit()
    if experiment.auto_apply:
        apply_winner(experiment, store, urls)
    return True


def apply_winner(experiment: Experiment, store: Store, urls: PublicUrls) -> Experiment:
    """The winner's templates become the subject's for everyone after (a step's template versions by
    ``experiment:<id>``, a campaign's templates); the control's change nothing. Applying twice changes nothing."""
    if experiment.state != ExperimentState.DECIDED:
        raise ExperimentConflict("state", N_("Only a decided experiment has a winner to apply."))
    if experiment.applied_at is not None:
        return experiment
    winner = next(v for v in experiment.variants if v.id == experiment.winner_id)
    parse_subject(experiment.subject).apply(store, urls, winner, author=f"experiment:{experiment.id}")
    experiment.applied_at = clock.now()
    db.session.commit()
    return experiment


def stop(experiment: Experiment) -> Experiment:
    """End a running experiment without a winner: every shopper gets the step's own template again."""
    if experiment.state != ExperimentState.RUNNING:
        raise ExperimentConflict("state", N_("The experiment is %(state)s, not running.", state=experiment.state))
    experiment.state, experiment.stopped_at = ExperimentState.STOPPED, clock.now()
    db.session.commit()
    return experiment


def evaluate_running(urls: PublicUrls) -> dict[str, int]:
    """The periodic job: every running experiment looked at; a failure of one is logged and the rest go on."""
    decided = failed = 0
    for experiment_id, store_id in db.session.execute(
            sa.select(Experiment.id, Experiment.store_id).where(Experiment.state == ExperimentState.RUNNING)).all():
        try:
            experiment, store = db.session.get(Experiment, experiment_id), db.session.get(Store, store_id)
            decided += evaluate(experiment, store, urls)
        except (TemplateError, FieldError):  # the winner no longer renders: decided, left for the store to apply
            log.warning("experiments: the winner of experiment %s could not be applied", experiment_id)
            db.session.rollback()
            failed += 1
    return {"decided": decided, "apply_failed": failed}
