"""Campaigns over the API: create (a draft, or scheduled with send_at), list, read with results, schedule, cancel,
and a segment's live count with a sample. A thin adapter over retainful.campaigns; another store's campaign is 404."""
from __future__ import annotations

from flask import jsonify

from retainful.api.errors import ApiError
from retainful.api.reports import jsonable
from retainful.api.request import MAX_ID, current_store, json_body, row_or_404, whole_arg
from retainful.api.schemas import (CampaignCancelled, CampaignIn, CampaignList, CampaignOut, CampaignResults,
                                   CampaignScheduleIn, SegmentPreviewIn, SegmentPreviewOut)
from retainful.api.views import bp
from retainful.campaigns import service
from retainful.extensions import db

campaign_in, schedule_in, preview_in = CampaignIn(), CampaignScheduleIn(), SegmentPreviewIn()
campaign_out, results_out, list_out = CampaignOut(), CampaignResults(), CampaignList()
cancelled_out, preview_out = CampaignCancelled(), SegmentPreviewOut()
MAX_PAGE = 200


def _json(schema, data, status: int = 200):
    return jsonify(schema.dump(jsonable(data, current_store().currency))), status


def _campaign_or_404(campaign_id: str):
    return row_or_404("campaign", service.get, campaign_id)


@bp.post("/campaigns")
def create_campaign():
    campaign = service.create(current_store(), json_body(campaign_in), author="api")
    return _json(campaign_out, service.describe(campaign), 201)


@bp.get("/campaigns")
def list_campaigns():
    found = service.listing(current_store(), limit=whole_arg("limit", service.PAGE, MAX_PAGE),
                            before_id=whole_arg("before_id", None, MAX_ID))
    return _json(list_out, {"campaigns": [service.describe(c) for c in found]})


@bp.get("/campaigns/<campaign_id>")
def get_campaign(campaign_id: str):
    return _json(results_out, service.results(_campaign_or_404(campaign_id)))


@bp.post("/campaigns/<campaign_id>/schedule")
def schedule_campaign(campaign_id: str):
    campaign = _campaign_or_404(campaign_id)
    data = json_body(schedule_in)
    service.schedule(campaign, data["send_at"], data["local_time"])
    db.session.commit()
    return _json(campaign_out, service.describe(campaign))


@bp.post("/campaigns/<campaign_id>/cancel")
def cancel_campaign(campaign_id: str):
    campaign = _campaign_or_404(campaign_id)
    cancelled = service.cancel(campaign)
    if cancelled is None:
        raise ApiError(409, "conflict", f"The campaign is {campaign.state}: nothing is left to cancel.")
    return _json(cancelled_out, {"campaign": service.describe(campaign), "cancelled": cancelled})


@bp.post("/campaigns/preview-segment")
def preview_segment():
    data = json_body(preview_in)
    return _json(preview_out, service.preview(current_store(), data["segment"], list(dict.fromkeys(data["channels"]))))
