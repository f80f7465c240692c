"""The admin's Automations page and each automation's page: read by every role, changed by owners, one store's."""
import sqlalchemy as sa

from retainful import automations
from retainful.extensions import db
from retainful.models import Role, Store
from tests.test_admin import add_user, csrf_token, logged_in, post, text


def _owner(app, shop, role=Role.OWNER):
    return logged_in(app, add_user(app, f"{role}@acme.test", role, [shop.store_id]))


def _win_back(app, store_id):
    with app.app_context():
        return automations.describe(db.session.get(Store, store_id), "win_back")


def test_the_page_lists_every_automation_with_state_steps_templates_and_figures(app, shop):
    page = text(_owner(app, shop).get("/admin/automations/"))
    for kind in ("abandoned_cart", "next_order", "win_back"):
        assert f'id="automation-{kind}"' in page
    assert 'data-kind="win_back" data-enabled="no"' in page
    assert "30d at 10:00" in page and "free shipping" in page
    assert "/admin/templates/edit/email/win_back/step1" in page


def test_an_owner_switches_an_automation_on_and_edits_a_step_with_its_local_hour(app, shop):
    owner = _owner(app, shop)
    token = csrf_token(owner, "/admin/automations/")
    assert post(owner, "/admin/automations/win_back/switch", {"enabled": "1"}, token).status_code == 302
    assert _win_back(app, shop.store_id)["enabled"] is True
    form = {"delay_value": "40", "delay_unit": "days", "at_hour": "18", "email": "1", "enabled": "1",
            "coupon_type": "percent", "coupon_amount": "20", "coupon_valid_hours": "24"}
    assert post(owner, "/admin/automations/win_back/step/2", form, token).status_code == 302
    step = _win_back(app, shop.store_id)["steps"][1]
    assert (step["delay"], step["at_hour"], step["channels"], step["coupon"]["amount"]) == ("40d", 18, ["email"],
                                                                                            20)
    page = text(owner.get("/admin/automations/win_back/"))
    assert 'id="automation-state">on' in page and 'value="18"' in page
    assert post(owner, "/admin/automations/win_back/step/2", {**form, "at_hour": ""}, token).status_code == 302
    assert _win_back(app, shop.store_id)["steps"][1]["at_hour"] is None


def test_refused_forms_are_a_400_naming_the_field_and_change_nothing(app, shop):
    owner = _owner(app, shop)
    token = csrf_token(owner, "/admin/automations/")
    before = _win_back(app, shop.store_id)
    for form, field in (({"delay_value": "10", "delay_unit": "days"}, "delay"),  # before step 1's 30 days
                        ({"delay_value": "70", "delay_unit": "minutes"}, "delay_value"),  # under a day
                        ({"delay_value": "40", "delay_unit": "days", "at_hour": "25"}, "at_hour"),
                        ({"delay_value": "40", "delay_unit": "days", "at_hour": "x"}, "at_hour"),
                        ({"delay_value": "40", "delay_unit": "days", "at_hour": "1\x00"}, "at_hour")):
        answer = post(owner, "/admin/automations/win_back/step/2", {"email": "1", "enabled": "1", **form}, token)
        assert answer.status_code == 400, (form, answer.status_code)
        assert f'data-field="{field}"' in text(answer) or field in text(answer)
    assert _win_back(app, shop.store_id) == before
    assert owner.get("/admin/automations/nope/").status_code == 404
    assert post(owner, "/admin/automations/nope/switch", {"enabled": "1"}, token).status_code == 404


def test_the_abandoned_cart_automation_is_the_sequence_page(app, shop):
    owner = _owner(app, shop)
    answer = owner.get("/admin/automations/abandoned_cart/")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/admin/sequence/")


def test_a_marketer_reads_but_cannot_switch(app, shop):
    marketer = _owner(app, shop, Role.MARKETER)
    page = text(marketer.get("/admin/automations/"))
    assert 'id="automation-win_back"' in page and 'id="switch-win_back"' not in page
    token = csrf_token(marketer, "/admin/automations/")
    assert post(marketer, "/admin/automations/win_back/switch", {"enabled": "1"}, token).status_code == 403
    assert _win_back(app, shop.store_id)["enabled"] is False


def test_an_owner_changes_only_their_own_store(app, shop, make_store):
    other = make_store(name="Other", domain="other.example")
    owner = _owner(app, shop)
    token = csrf_token(owner, "/admin/automations/")
    post(owner, "/admin/automations/win_back/switch", {"enabled": "1"}, token)
    with app.app_context():
        enabled = dict(db.session.execute(sa.text(
            "SELECT store_id, enabled FROM sequence WHERE kind = 'win_back'")).all())
    assert enabled.get(other.store_id) in (None, False, 0) and enabled[shop.store_id] in (True, 1)
