"""The admin's Campaigns pages: list, create with a live recipient count, schedule, cancel, results with a chart;
owners, admins and marketers manage them, agents see nothing, another store's campaign is a 404."""
import sqlalchemy as sa

from retainful.campaigns import sending
from retainful.extensions import db
from retainful.models import Campaign, Role
from tests.test_admin import add_user, csrf_token, logged_in, post, text
from tests.test_campaigns import dispatch, fans


def _user(app, shop, role=Role.OWNER):
    return logged_in(app, add_user(app, f"{role}@acme.test", role, [shop.store_id]))


def _campaigns(app):
    with app.app_context():
        found = db.session.scalars(sa.select(Campaign).order_by(Campaign.id)).all()
        db.session.expunge_all()
        return found


FORM = {"name": "Spring arrivals", "channel_email": "1", "template_email": "campaign/news", "country": "",
        "order_count_min": "", "send_at": "2026-03-02T04:00", "coupon_type": "percent", "coupon_amount": "10",
        "coupon_valid_hours": "48"}


def test_a_marketer_creates_a_campaign_and_reads_its_results(app, shop):
    fans(shop, 4)
    marketer = _user(app, shop, Role.MARKETER)
    page = text(marketer.get("/admin/campaigns/new"))
    assert 'id="campaign-form"' in page and "campaigns.js" in page and 'id="recipient-count"' in page
    assert marketer.get("/admin/campaigns/count.json?channel_email=1").get_json() == {"count": 4}
    assert marketer.get("/admin/campaigns/count.json?channel_email=1&order_count_min=1").get_json() == {"count": 0}
    refused = marketer.get("/admin/campaigns/count.json?channel_email=1&country=KOR")
    assert refused.get_json()["count"] is None and refused.get_json()["error"]["field"] == "segment.country.0"
    token = csrf_token(marketer, "/admin/campaigns/new")
    answer = post(marketer, "/admin/campaigns/new", FORM, token)
    assert answer.status_code == 302, text(answer)
    [campaign] = _campaigns(app)
    assert (campaign.state, campaign.coupon_type, campaign.created_by) == ("scheduled", "percent",
                                                                            campaign.created_by)
    assert campaign.created_by.startswith("user:")
    with app.app_context():
        sending.expand_due()
    dispatch(app)
    page = text(marketer.get(f"/admin/campaigns/{campaign.id}"))
    assert 'id="result-sent">4<' in page and 'id="campaign-chart"' in page and "rt-chart-data" in page
    listing = text(marketer.get("/admin/campaigns/"))
    assert f'data-campaign-id="{campaign.id}" data-state="sending"' in listing or 'data-state="sent"' in listing


def test_refused_forms_are_a_400_naming_the_field(app, shop):
    owner = _user(app, shop)
    token = csrf_token(owner, "/admin/campaigns/new")
    for change, field in (({"name": ""}, "name"), ({"channel_email": ""}, "channel_email"),
                          ({"order_count_min": "many"}, "order_count_min"), ({"country": "KOR"}, "country"),
                          ({"total_spent_max": "-1"}, "total_spent_max"), ({"send_at": "2020-01-01T10:00"}, "send_at"),
                          ({"coupon_amount": "500"}, "coupon_amount"), ({"template_email": "nope/x"}, "template_email")):
        answer = post(owner, "/admin/campaigns/new", {**FORM, **change}, token)
        assert answer.status_code == 400, (change, answer.status_code)
        assert f'id="{field}-error"' in text(answer), change
    assert post(owner, "/admin/campaigns/new", {**FORM, "name": "x\x00"}, token).status_code == 400
    assert _campaigns(app) == []


def test_schedule_and_cancel_with_csrf(app, shop):
    fans(shop, 2)
    owner = _user(app, shop)
    token = csrf_token(owner, "/admin/campaigns/new")
    assert post(owner, "/admin/campaigns/new", {**FORM, "send_at": ""}, token).status_code == 302
    [draft] = _campaigns(app)
    assert draft.state == "draft"
    assert owner.post(f"/admin/campaigns/{draft.id}/schedule", data={"send_at": "2026-03-05T10:00"}).status_code == 400
    assert post(owner, f"/admin/campaigns/{draft.id}/schedule", {"send_at": "2026-03-05T10:00", "local_time": "1"},
                token).status_code == 302
    [scheduled] = _campaigns(app)
    assert (scheduled.state, scheduled.local_time) == ("scheduled", True)
    assert post(owner, f"/admin/campaigns/{draft.id}/cancel", {}, token).status_code == 302
    assert _campaigns(app)[0].state == "cancelled"
    assert post(owner, f"/admin/campaigns/{draft.id}/cancel", {}, token).status_code == 409


def test_roles_and_stores(app, shop, make_store):
    other = make_store(name="Other", domain="other.example")
    owner = _user(app, shop)
    token = csrf_token(owner, "/admin/campaigns/new")
    assert post(owner, "/admin/campaigns/new", FORM, token).status_code == 302
    [campaign] = _campaigns(app)
    stranger = logged_in(app, add_user(app, "other@acme.test", Role.OWNER, [other.store_id]))
    assert stranger.get(f"/admin/campaigns/{campaign.id}").status_code == 404
    stranger_token = csrf_token(stranger, "/admin/campaigns/new")
    assert post(stranger, f"/admin/campaigns/{campaign.id}/cancel", {}, stranger_token).status_code == 404
    agent = _user(app, shop, Role.AGENT)
    assert agent.get("/admin/campaigns/").status_code == 403
    assert _campaigns(app)[0].state == "scheduled"
