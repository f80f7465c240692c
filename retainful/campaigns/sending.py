"""Sending a campaign: each recipient's templates (:func:`templates_for`), and the batch expander that writes the
outbox rows of due campaigns a batch at a time."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from retainful import clock, shutdown
from retainful.automations import planner
from retainful.campaigns import segment
from retainful.campaigns.automation import CAMPAIGN, DEFAULT_TEMPLATE
from retainful.channels import channel
from retainful.clock import UTC
from retainful.extensions import db
from retainful.local_time import recipient_zone
from retainful.messaging import outbox
from retainful.models import Campaign, CampaignState, Customer, Message, MessageStatus, Store

log = logging.getLogger(__name__)


def own_source(channel: str, source: dict[str, Any]) -> str:
    """A campaign's own template as the Jinja source the channel renders: an email's ``subject``, optional
    ``preheader`` and ``html`` inside the store's layout; an SMS's ``text``."""
    if channel != "email":
        return source["text"]
    preheader = f"{{% block preheader %}}{source['preheader']}{{% endblock %}}" if source.get("preheader") else ""
    return (f"{{% extends \"layout.html\" %}}{{% block subject %}}{source['subject']}{{% endblock %}}{preheader}"
            f"{{% block content %}}{source['html']}{{% endblock %}}")


def source_key(campaign: Campaign) -> str:
    """The key a campaign's own source renders under (the dispatcher's render budget is kept per key)."""
    return f"campaign/c{campaign.id}"


def templates_for(campaign: Campaign, customer: Customer | None) -> dict[str, tuple[str, str | None]]:
    """The template of each of the campaign's channels for this recipient: (key, its own source or None for the
    store's template of that key). The one place a recipient's templates are chosen (a running A/B test's variant
    replaces them at render time: retainful.experiments)."""
    chosen = {}
    for channel in campaign.channels:
        template = campaign.templates.get(channel) or {"key": DEFAULT_TEMPLATE}
        chosen[channel] = ((source_key(campaign), own_source(channel, template["source"])) if "source" in template
                           else (template["key"], None))
    return chosen


# --- the batch expander -------------------------------------------------------------------------------------------

# A campaign is expanded from this long before its first recipient is due, so its rows wait in the outbox on time.
EXPAND_AHEAD = timedelta(minutes=10)
EARLIEST_OFFSET = timedelta(hours=14)  # the first local clock to reach a wall time (UTC+14, Kiribati)
RUN_SECONDS = 5.0  # one run of the job (every 10 s): no batch starts after this, the next run goes on


def dedup_key(campaign: Campaign, customer: Customer, channel: str) -> str:
    """One row per (campaign, customer, channel): a re-run or a second worker never writes a second copy."""
    return planner.dedup_key(CAMPAIGN, f"{campaign.id}.{customer.id}", 1, channel)


def first_due(send_at: datetime, wall: datetime, local_time: bool) -> datetime:
    """When the first recipient is due: the send time, or with local_time the wall time on the earliest clock."""
    return clock.ensure_utc(wall.replace(tzinfo=UTC) - EARLIEST_OFFSET) if local_time else send_at


def due_for(campaign: Campaign, customer: Customer, store: Store) -> datetime:
    """The recipient's send time: the campaign's, or its wall time on the recipient's own clock (their phone's zone,
    else their locale's, else the store's)."""
    if not campaign.local_time:
        return campaign.send_at
    zone = recipient_zone(customer.phone, customer.locale, store.timezone)
    return clock.ensure_utc(campaign.send_at_wall.replace(tzinfo=zone))


def _paced(pacing: dict[str, float], target: datetime, now: datetime, rate: float) -> datetime:
    """The next free due time at this target: rows of one send time are spaced 1/rate apart, so the outbox never holds
    more than a few seconds of a campaign's messages ahead of a message of another automation due meanwhile."""
    key = str(int(target.timestamp()))
    slot = max(pacing.get(key, target.timestamp()), now.timestamp())
    pacing[key] = slot + 1 / rate
    return datetime.fromtimestamp(slot, UTC)


def _due_campaign(now: datetime) -> Campaign | None:
    """The oldest due campaign with recipients left to enqueue, locked (PostgreSQL: other workers skip it)."""
    query = (sa.select(Campaign).where(Campaign.state.in_((CampaignState.SCHEDULED, CampaignState.SENDING)),
                                       Campaign.expand_at <= now, Campaign.expanded_at.is_(None))
             .order_by(Campaign.expand_at, Campaign.id).limit(1))
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return db.session.scalar(query)


def expand_batch(campaign: Campaign, size: int, rate: float) -> int:
    """Enqueue the campaign's next ``size`` recipients after its cursor and move the cursor, in one transaction; the
    cursor moves only from where this run read it, so two expanders never both take one batch. Returns the rows
    written (0 when another expander took the batch)."""
    store = db.session.get(Store, campaign.store_id)
    now = clock.now()
    cursor = campaign.cursor_id or 0
    customers = segment.batch(store, campaign.segment, campaign.channels, cursor, size)
    pacing = dict(campaign.pacing or {})
    rows, recipients = [], 0
    for customer in customers:
        channels = [name for name in campaign.channels if channel(name).marketing_refusal(customer) is None]
        recipients += bool(channels)
        target = due_for(campaign, customer, store)
        rows.extend(outbox.Planned(store_id=store.id, kind=CAMPAIGN, channel=name,
                                   dedup_key=dedup_key(campaign, customer, name),
                                   due_at=_paced(pacing, target, now, rate), customer_id=customer.id,
                                   campaign_id=campaign.id, trigger_at=target) for name in channels)
    done = len(customers) < size
    moved = db.session.execute(
        sa.update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.state.in_((CampaignState.SCHEDULED, CampaignState.SENDING)),
               sa.func.coalesce(Campaign.cursor_id, 0) == cursor)
        .values(cursor_id=customers[-1].id if customers else campaign.cursor_id, pacing=pacing,
                recipient_count=Campaign.recipient_count + recipients, state=CampaignState.SENDING,
                expanded_at=now if done else None, updated_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if not moved:
        db.session.rollback()
        return 0
    written = outbox.enqueue(rows)
    db.session.commit()
    return written


def finish_sent(now: datetime) -> int:
    """Campaigns fully enqueued with nothing of theirs pending any more are sent."""
    pending = sa.exists().where(Message.campaign_id == Campaign.id, Message.status.in_(MessageStatus.PENDING))
    finished = db.session.execute(
        sa.update(Campaign).where(Campaign.state == CampaignState.SENDING, Campaign.expanded_at.is_not(None), ~pending)
        .values(state=CampaignState.SENT, finished_at=now, updated_at=now)
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return finished


def expand_due() -> int:
    """The ``campaigns`` job: due campaigns' next batches, oldest campaign first, until they are all enqueued or the
    run's time is up; then the campaigns that are done are marked sent. Returns the rows written."""
    config = current_app.config
    size, rate = config["CAMPAIGN_BATCH_SIZE"], config["CAMPAIGN_SEND_RATE"]
    deadline = time.monotonic() + RUN_SECONDS
    written = 0
    while time.monotonic() < deadline and not shutdown.requested.is_set():
        campaign = _due_campaign(clock.now())
        if campaign is None:
            db.session.rollback()
            break
        written += expand_batch(campaign, size, rate)
    finish_sent(clock.now())
    if written:
        log.info("campaigns: %d messages enqueued", written)
    return written
