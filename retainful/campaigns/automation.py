"""The ``campaign`` message kind: an unlisted automation (no store switches it, no sequence), so the send policy and
the dispatcher treat a campaign's outbox rows like any marketing message: consent, opt-outs, suppression, quiet hours
and an open conversation hold them; the frequency caps only when the campaign asks for them (``frequency_cap``).
Orders are credited to its messages like any automation's (orders/attribution.py)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from retainful.automations import registry
from retainful.automations.base import Automation
from retainful.coupons import step_coupon
from retainful.extensions import db
from retainful.models import Campaign, CampaignState, Coupon, CouponKind, Message

if TYPE_CHECKING:
    from retainful.models import Store

CAMPAIGN = "campaign"
DEFAULT_TEMPLATE = "campaign/news"  # email_templates/campaign/news.html, sms_templates/campaign/news.txt


def campaign_of(message: "Message") -> Campaign | None:
    """The message's campaign, read once per session: the dispatcher asks for it several times per message, and the
    identity map alone holds it weakly (it would be read again each time). A batch's session is its own, so each
    batch sees the campaign as it is now (cancelled, say)."""
    if message.campaign_id is None:
        return None
    loaded = db.session.info.setdefault("campaigns", {})
    if message.campaign_id not in loaded:
        loaded[message.campaign_id] = db.session.get(Campaign, message.campaign_id)
    return loaded[message.campaign_id]


class CampaignMessage(Automation):
    kind = CAMPAIGN
    title = "Campaign"
    coupon_kind = CouponKind.CAMPAIGN

    def template_key(self, position: int) -> str:
        return DEFAULT_TEMPLATE

    def message_template(self, message):
        from retainful.campaigns.sending import templates_for  # sending imports this module

        campaign = campaign_of(message)
        if campaign is None:
            return DEFAULT_TEMPLATE, None
        return templates_for(campaign, message.customer)[message.channel]

    def stop_reason(self, message, cart, customer, history):
        campaign = campaign_of(message)
        return "campaign_cancelled" if campaign is None or campaign.state == CampaignState.CANCELLED else None

    def caps_apply(self, message) -> bool:
        campaign = campaign_of(message)
        return campaign is not None and campaign.frequency_cap

    def coupon_for(self, message, store: "Store") -> Coupon | None:
        """One code per recipient, shared by their email and SMS; minted by whichever goes first."""
        campaign = campaign_of(message)
        if campaign is None or campaign.coupon_type is None or message.customer is None:
            return None
        sibling = db.session.scalar(sa.select(Message.coupon_id).where(
            Message.campaign_id == campaign.id, Message.customer_id == message.customer_id, Message.id != message.id,
            Message.coupon_id.is_not(None)).limit(1))
        if sibling is not None:
            return db.session.get(Coupon, sibling)
        return step_coupon(campaign, message.customer, store, kind=CouponKind.CAMPAIGN, currency=store.currency)

    def template_vars(self, message, store) -> dict[str, Any]:
        campaign = campaign_of(message)
        return {"campaign": {"name": campaign.name if campaign else ""}}

    def sample_vars(self, store) -> dict[str, Any]:
        return {"campaign": {"name": "New arrivals"}}


CAMPAIGN_KIND = registry.register(CampaignMessage(), listed=False)
