"""The admin's Experiments pages: a new test from an automation step, the variants side by side, stop and apply;
marketers, owners and admins; one store's; on both databases."""
import html

import sqlalchemy as sa

from retainful.extensions import db
from retainful.models import Experiment, Role, TemplateVersion
from tests.test_admin import add_user, csrf_token, logged_in, post, text
from tests.test_experiments import B_EMAIL, run_experiments_job, seed_results

FORM = {"subject": "automation:abandoned_cart:1", "metric": "orders", "name-1": "Control", "weight-1": "1",
        "name-2": "Shorter", "weight-2": "1", "email-source-2": B_EMAIL, "name-3": "Step 2's", "weight-3": "2",
        "email-key-3": "abandoned_cart/step2"}


def _user(app, shop, role=Role.MARKETER):
    return logged_in(app, add_user(app, f"{role}@acme.test", role, [shop.store_id]))


def _start(app, shop, user, **changes):
    token = csrf_token(user, "/admin/experiments/")
    return post(user, "/admin/experiments/new", {**FORM, **changes}, token), token


def test_a_marketer_starts_one_from_an_automation_step_and_sees_the_variants_side_by_side(app, shop):
    marketer = _user(app, shop)
    automations_page = text(marketer.get("/admin/automations/"))
    assert 'id="ab-test-abandoned_cart-1"' in automations_page
    form_page = text(marketer.get("/admin/experiments/?subject=automation:win_back:2"))
    assert '<option value="automation:win_back:2" selected>' in form_page
    answer, _ = _start(app, shop, marketer)
    assert answer.status_code == 302, text(answer)[:2000]
    page = text(marketer.get(answer.headers["Location"]))
    assert 'id="experiment-state">running' in page
    names = [html.unescape(part.split("</strong>")[0]) for part in page.split('class="variant-name">')[1:]]
    assert names == ["Control", "Shorter", "Step 2's"]
    assert 'id="variant-3"' in page and "col-12 col-md-6 col-xl-3" in page  # one column at 390 px, four at 1366
    assert "/admin/templates/edit/email/abandoned_cart/step2" in page and "mSPRT" in page
    listing = text(marketer.get("/admin/experiments/"))
    assert 'data-state="running"' in listing and "Control, Shorter, Step 2&#39;s" in listing


def test_a_decided_experiment_is_applied_from_its_page(app, shop):
    owner = _user(app, shop, Role.OWNER)
    answer, token = _start(app, shop, owner, **{"name-3": ""})
    with app.app_context():
        experiment_id = db.session.scalar(sa.select(Experiment.id))
    seed_results(app, experiment_id, 600, {"Control": 10, "Shorter": 60})
    run_experiments_job(app)
    page = text(owner.get(f"/admin/experiments/{experiment_id}"))
    assert "Winner: Shorter" in page and 'id="apply-button"' in page and 'id="stop-button"' not in page
    assert post(owner, f"/admin/experiments/{experiment_id}/apply", {}, token).status_code == 302
    page = text(owner.get(f"/admin/experiments/{experiment_id}"))
    assert 'id="applied-badge"' in page and 'id="apply-button"' not in page
    with app.app_context():
        assert db.session.scalar(sa.select(TemplateVersion.source)) == B_EMAIL


def test_stop_and_refused_forms(app, shop):
    marketer = _user(app, shop)
    for changes, field in (({"subject": "automation:nope:1"}, "subject"), ({"subject": "x"}, "subject"),
                           ({"email-source-2": "{% block subject %}{{ oops(" }, "email-source-2"),
                           ({"name-2": "", "sms-source-3": "{% if %}"}, "sms-source-3"),
                           ({"sms-key-3": "nope"}, "sms-key-3"),
                           ({"weight-2": "0"}, "weight-2"), ({"weight-2": "many"}, "weight-2"),
                           ({"name-2": "", "name-3": ""}, "name-2"), ({"name-2": "control"}, "name-2"),
                           ({"metric": "revenue"}, "metric")):
        answer, token = _start(app, shop, marketer, **changes)
        assert answer.status_code == 400, (changes, answer.status_code)
        page = text(answer)
        assert f'data-field="{field}"' in page and f'id="{field}-error"' in page, (changes, page[:3000])
        assert 'aria-invalid="true"' in page
    answer, token = _start(app, shop, marketer, **{"name-2": "B\x00"})
    assert answer.status_code == 400
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Experiment.id))) == 0
    answer, token = _start(app, shop, marketer)
    experiment_id = int(answer.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    again, _ = _start(app, shop, marketer)
    assert again.status_code == 400 and "running experiment" in text(again)
    assert post(marketer, f"/admin/experiments/{experiment_id}/stop", {}, token).status_code == 302
    assert 'id="experiment-state">stopped' in text(marketer.get(f"/admin/experiments/{experiment_id}"))
    post(marketer, f"/admin/experiments/{experiment_id}/stop", {}, token)
    assert "not running" in text(marketer.get(f"/admin/experiments/{experiment_id}"))


def test_agents_cannot_and_other_stores_get_404(app, shop, make_store):
    agent = _user(app, shop, Role.AGENT)
    assert agent.get("/admin/experiments/").status_code == 403
    owner = _user(app, shop, Role.OWNER)
    answer, token = _start(app, shop, owner)
    experiment_id = int(answer.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    other = make_store(name="Other", domain="other.example")
    stranger = logged_in(app, add_user(app, "other@acme.test", Role.OWNER, [other.store_id]))
    assert stranger.get(f"/admin/experiments/{experiment_id}").status_code == 404
    stranger_token = csrf_token(stranger, "/admin/experiments/")
    assert post(stranger, f"/admin/experiments/{experiment_id}/stop", {}, stranger_token).status_code == 404
    assert owner.get("/admin/experiments/99999999999").status_code == 404
    assert 'id="experiment-state">running' in text(owner.get(f"/admin/experiments/{experiment_id}"))
