"""Creating, scheduling, cancelling and reading campaigns; their results from their outbox rows and credited orders.
The API, the CLI and the admin call these; input is validated here (errors name their field)."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import current_app

from retainful import clock
from retainful.automations.settings import apply_coupon_rule, coupon_rule
from retainful.campaigns import segment
from retainful.campaigns.sending import EXPAND_AHEAD, first_due, own_source, source_key
from retainful.channels import channel
from retainful.errors import FieldError
from retainful.extensions import db
from retainful.models import Campaign, CampaignState, Customer, Message, MessageStatus, Order, Store
from retainful.orders.attribution import VOID_STATUSES
from retainful.rendering.context import sample_context
from retainful.rendering.engine import TemplateError, template_keys
from retainful.urls import public_urls
from retainful.words import N_

PAST_GRACE = timedelta(minutes=5)  # a send time this little in the past means "now" (a form filled in slowly)
PAGE = 50


def parse(raw: dict[str, Any]) -> dict[str, Any]:
    """A campaign's JSON (the API's body, the admin's form) validated by the API's schema; the first error raised as
    a FieldError naming its field."""
    from marshmallow import ValidationError

    from retainful.api.schemas import CampaignIn

    try:
        return CampaignIn().load(raw)
    except ValidationError as error:
        raise FieldError(*segment.first_error(error.messages, "")) from None


def _check_template(store: Store, name: str, template: dict[str, Any], key: str) -> dict[str, Any]:
    """A template ref: a key of the store's templates, or a source that compiles and renders with sample data."""
    if ("key" in template) == ("source" in template):
        raise FieldError(f"templates.{name}", N_("Give either key or source."))
    if "key" in template:
        if template["key"] not in template_keys(name):
            raise FieldError(f"templates.{name}.key", N_("No %(channel)s template %(key)r.", channel=name,
                                                                key=template["key"]))
        return {"key": template["key"]}
    source = template["source"]
    needed = ("subject", "html") if name == "email" else ("text",)
    for part in needed:
        if not source.get(part):
            raise FieldError(f"templates.{name}.source.{part}", N_("Required."))
    parts = {part: value for part, value in source.items() if value and (part in needed or part == "preheader")}
    try:
        channel(name).render(key, sample_context(store, public_urls(current_app), key),
                             own_source(name, parts))
    except TemplateError as error:
        raise FieldError(f"templates.{name}.source", error.message) from None
    return {"source": parts}


def _send_time(store: Store, send_at: datetime, local_time: bool) -> tuple[datetime, datetime, datetime]:
    """(the instant, the wall-clock time, when expansion starts) of a send time given store-local or with an offset."""
    instant = segment.local_instant(send_at, store.timezone)
    if instant is None:
        raise FieldError("send_at", segment.date_bounds())
    if instant < clock.now() - PAST_GRACE:
        raise FieldError("send_at", N_("In the past: give a time from now on."))
    wall = send_at.replace(tzinfo=None)
    return instant, wall, first_due(instant, wall, local_time) - EXPAND_AHEAD


def schedule(campaign: Campaign, send_at: datetime, local_time: bool) -> Campaign:
    """Set (or move) the send time of a campaign not yet sending; the caller commits."""
    if campaign.state not in (CampaignState.DRAFT, CampaignState.SCHEDULED):
        raise FieldError("state", N_("A %(state)s campaign cannot be scheduled again.", state=campaign.state))
    store = db.session.get(Store, campaign.store_id)
    campaign.send_at, campaign.send_at_wall, campaign.expand_at = _send_time(store, send_at, local_time)
    campaign.local_time, campaign.state = local_time, CampaignState.SCHEDULED
    return campaign


def create(store: Store, data: dict[str, Any], author: str) -> Campaign:
    """A campaign from validated input (:func:`parse` or the API's schema): a draft, or scheduled with ``send_at``."""
    channels = list(dict.fromkeys(data["channels"]))
    templates = data.get("templates") or {}
    for name in templates:
        if name not in channels:
            raise FieldError(f"templates.{name}", N_("Not one of the campaign's channels."))
    campaign = Campaign(store_id=store.id, name=data["name"].strip(), channels=channels, created_by=author,
                        frequency_cap=data.get("frequency_cap", False), pacing={}, recipient_count=0,
                        segment=segment.parse(data.get("segment"), store), templates={})
    if not campaign.name:
        raise FieldError("name", N_("Required."))
    db.session.add(campaign)
    db.session.flush()  # the id names its own sources' key
    campaign.templates = {name: _check_template(store, name, templates[name], source_key(campaign))
                          for name in channels if templates.get(name)}
    coupon = data.get("coupon")
    try:
        apply_coupon_rule(campaign, coupon and coupon["type"], coupon and coupon.get("amount"),
                          coupon and coupon.get("minimum"), coupon and coupon.get("valid_hours"), remove=coupon is None)
    except FieldError as error:
        raise FieldError("coupon." + error.field.removeprefix("coupon_"), error.message) from None
    if data.get("send_at") is not None:
        schedule(campaign, data["send_at"], data.get("local_time", False))
    elif data.get("local_time"):
        campaign.local_time = True
    db.session.commit()
    return campaign


def get(store: Store, campaign_id: int) -> Campaign | None:
    """The store's campaign, or None (another store's is None too)."""
    campaign = db.session.get(Campaign, campaign_id)
    return campaign if campaign is not None and campaign.store_id == store.id else None


def listing(store: Store, limit: int = PAGE, before_id: int | None = None) -> list[Campaign]:
    """The store's campaigns, newest first."""
    query = sa.select(Campaign).where(Campaign.store_id == store.id)
    if before_id is not None:
        query = query.where(Campaign.id < before_id)
    return list(db.session.scalars(query.order_by(Campaign.id.desc()).limit(limit)))


def cancel(campaign: Campaign) -> int | None:
    """Stop what is not sent yet: the campaign is cancelled, its scheduled rows too (a row a worker is sending now is
    stopped by the policy). Returns the rows cancelled, or None when the campaign is sent or cancelled already."""
    if db.engine.dialect.name == "postgresql":  # waits for an expander's batch in progress, which then stops
        db.session.refresh(campaign, with_for_update=True)
    if campaign.state not in CampaignState.CANCELLABLE:
        db.session.rollback()
        return None
    now = clock.now()
    campaign.state, campaign.cancelled_at = CampaignState.CANCELLED, now
    cancelled = db.session.execute(
        sa.update(Message).where(Message.campaign_id == campaign.id, Message.status == MessageStatus.SCHEDULED)
        .values(status=MessageStatus.CANCELLED, updated_at=now).execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return cancelled


def recipient_count(campaign: Campaign) -> int:
    """Before it sends: who the segment holds now; from then on: the customers enqueued."""
    if campaign.state in (CampaignState.DRAFT, CampaignState.SCHEDULED):
        store = db.session.get(Store, campaign.store_id)
        return segment.count(store, campaign.segment, campaign.channels)
    return campaign.recipient_count


def describe(campaign: Campaign) -> dict[str, Any]:
    """A campaign as the API and the admin show it."""
    return {"id": campaign.id, "name": campaign.name, "state": campaign.state, "channels": list(campaign.channels),
            "templates": campaign.templates, "segment": campaign.segment, "coupon": coupon_rule(campaign),
            "send_at": campaign.send_at, "send_at_local": campaign.send_at_wall.isoformat()
            if campaign.send_at_wall else None, "local_time": campaign.local_time,
            "frequency_cap": campaign.frequency_cap, "recipient_count": recipient_count(campaign),
            "created_at": campaign.created_at, "finished_at": campaign.finished_at,
            "cancelled_at": campaign.cancelled_at}


def results(campaign: Campaign) -> dict[str, Any]:
    """What the campaign did: its rows by outcome, opens and clicks, the orders credited to its messages and their
    revenue, and the recipients who unsubscribed (or texted STOP) after one of its messages reached them."""
    store = db.session.get(Store, campaign.store_id)
    counts = {status: 0 for status in MessageStatus.ALL}
    skipped: dict[str, int] = {}
    opened = clicked = 0
    for status, reason, rows, opens, clicks in db.session.execute(
            sa.select(Message.status, Message.skip_reason, sa.func.count(), sa.func.count(Message.opened_at),
                      sa.func.count(Message.clicked_at))
            .where(Message.campaign_id == campaign.id).group_by(Message.status, Message.skip_reason)):
        counts[status] += rows
        opened, clicked = opened + opens, clicked + clicks
        if status == MessageStatus.SKIPPED:
            skipped[reason or "unknown"] = skipped.get(reason or "unknown", 0) + rows
    ours = sa.select(Message.id).where(Message.campaign_id == campaign.id).scalar_subquery()
    orders, revenue = db.session.execute(
        sa.select(sa.func.count(Order.id), sa.func.coalesce(sa.func.sum(Order.total - Order.refunded), 0))
        .where(Order.store_id == store.id, Order.credited_message_id.in_(ours), Order.status.notin_(VOID_STATUSES),
               Order.currency == store.currency)).one()
    opted_out = sa.or_(*(sa.and_(Message.channel == name, getattr(Customer, channel(name).opt_out_fields[0])
                                 >= Message.sent_at) for name in campaign.channels))
    unsubscribes = db.session.scalar(  # driven by the campaign's rows: one customer lookup each
        sa.select(sa.func.count(sa.distinct(Message.customer_id))).join(Customer, Customer.id == Message.customer_id)
        .where(Message.campaign_id == campaign.id, Message.status == MessageStatus.SENT, opted_out))
    return {**describe(campaign), "scheduled": counts[MessageStatus.SCHEDULED] + counts[MessageStatus.SENDING],
            "sent": counts[MessageStatus.SENT], "failed": counts[MessageStatus.FAILED],
            "cancelled": counts[MessageStatus.CANCELLED], "skipped": skipped, "opened": opened, "clicked": clicked,
            "orders_credited": orders, "revenue": Decimal(revenue), "currency": store.currency,
            "unsubscribes": unsubscribes}


def preview(store: Store, raw_segment: Any, channels: list[str]) -> dict[str, Any]:
    """How many customers a segment holds now, and a sample of them."""
    parsed = segment.parse(raw_segment, store)
    return {"count": segment.count(store, parsed, channels), "sample": segment.sample(store, parsed, channels)}
