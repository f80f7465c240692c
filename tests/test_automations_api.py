"""The automations API (list, read, replace) and the automations report, with hostile input, on both databases."""
import json
from datetime import datetime, timedelta, timezone

import pytest

from retainful import clock
from retainful.extensions import db
from retainful.models import Customer
from tests.conftest import T0, cart_body
from tests.test_automations_win_back import order, run_jobs

UTC = timezone.utc
NUL, SURROGATE = "\u0000", "\ud800"


def put(shop, kind, body, raw=None):
    return shop.client.put(f"/api/v1/automations/{kind}", data=raw if raw is not None else json.dumps(body),
                           content_type="application/json", headers=shop.headers)


def get(shop, path):
    return shop.client.get(path, headers=shop.headers)


def win_back(shop):
    return get(shop, "/api/v1/automations/win_back").get_json()


def test_every_automation_is_listed_with_its_state_and_steps(shop):
    listing = get(shop, "/api/v1/automations").get_json()["automations"]
    by_kind = {a["kind"]: a for a in listing}
    assert list(by_kind)[:3] == ["abandoned_cart", "next_order", "win_back"]
    cart = by_kind["abandoned_cart"]
    assert cart["enabled"] is True and cart["counts_as_recovered"] is True
    assert [s["delay"] for s in cart["steps"]] == ["30m", "6h", "2d", "4d", "1w"]
    assert cart["steps"][0]["channels"] == ["email", "sms"] and cart["steps"][0]["at_hour"] is None
    assert cart["steps"][2]["coupon"] == {"type": "percent", "amount": "10.00", "minimum": None, "valid_hours": 48}
    assert by_kind["next_order"]["transactional"] is True
    back = by_kind["win_back"]
    assert back["enabled"] is False
    assert [(s["delay"], s["at_hour"], s["channels"], s["coupon"]["type"]) for s in back["steps"]] == [
        ("30d", 10, ["email", "sms"], "free_shipping"), ("60d", 10, ["email", "sms"], "percent")]
    assert back["steps"][1]["template"] == "win_back/step2"


def test_put_back_what_was_read_with_changes(shop):
    body = win_back(shop)
    body["enabled"] = True
    body["steps"][0].update(delay="3w", at_hour=None, channels=["email"])
    body["steps"][1]["coupon"] = {"type": "fixed", "amount": "5", "valid_hours": 72}
    answer = put(shop, "win_back", body)
    assert answer.status_code == 200, answer.get_json()
    again = win_back(shop)
    assert again == answer.get_json()
    assert again["enabled"] is True
    assert (again["steps"][0]["delay"], again["steps"][0]["at_hour"], again["steps"][0]["channels"]) == (
        "3w", None, ["email"])
    assert again["steps"][1]["coupon"] == {"type": "fixed", "amount": "5.00", "minimum": None, "valid_hours": 72}


def test_the_cli_and_the_api_see_one_setting(shop, runner):
    assert runner.invoke(args=["automation", "enable", str(shop.store_id), "win_back"]).exit_code == 0
    assert win_back(shop)["enabled"] is True
    result = runner.invoke(args=["automation", "set-step", str(shop.store_id), "win_back", "2", "--delay", "45d",
                                 "--at-hour", "9", "--no-sms"])
    assert result.exit_code == 0, result.output
    step = win_back(shop)["steps"][1]
    assert (step["delay"], step["at_hour"], step["channels"]) == ("45d", 9, ["email"])
    assert runner.invoke(args=["automation", "set-step", str(shop.store_id), "win_back", "2",
                               "--no-at-hour"]).exit_code == 0
    assert win_back(shop)["steps"][1]["at_hour"] is None
    shown = runner.invoke(args=["automation", "show", str(shop.store_id), "win_back", "--json"])
    assert json.loads(shown.output)["steps"][1]["delay"] == "45d"
    assert json.loads(shown.output)["steps"][1]["coupon"]["amount"] == "15.00"  # as the API writes it
    table = runner.invoke(args=["automation", "show", str(shop.store_id)])
    assert "win_back" in table.output and "abandoned_cart" in table.output
    assert runner.invoke(args=["automation", "disable", str(shop.store_id), "win_back"]).exit_code == 0
    assert win_back(shop)["enabled"] is False
    bad = runner.invoke(args=["automation", "set-step", str(shop.store_id), "win_back", "2", "--at-hour", "24"])
    assert bad.exit_code != 0 and "--at-hour" in bad.output
    unknown = runner.invoke(args=["automation", "enable", str(shop.store_id), "nope"])
    assert unknown.exit_code != 0 and "KIND" in unknown.output


def test_the_sequence_command_keeps_working_for_abandoned_carts(shop, runner):
    result = runner.invoke(args=["sequence", "set-step", str(shop.store_id), "2", "--delay", "5h", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["steps"][1]["delay"] == "5h"
    assert get(shop, "/api/v1/automations/abandoned_cart").get_json()["steps"][1]["delay"] == "5h"


def _steps(shop, **change):
    body = win_back(shop)
    body["steps"][0].update(change)
    return body


@pytest.mark.parametrize("change, field", [
    ({"delay": "soon"}, "steps.0.delay"),
    ({"delay": "9999999d"}, "steps.0.delay"),
    ({"delay": "90m"}, "steps.0.delay"),  # under the win-back's minimum of a day
    ({"delay": "61d"}, "steps"),  # after step 2's 60 days
    ({"delay": 30}, "steps.0.delay"),
    ({"at_hour": 24}, "steps.0.at_hour"),
    ({"at_hour": "10"}, "steps.0.at_hour"),
    ({"at_hour": True}, "steps.0.at_hour"),
    ({"channels": ["fax"]}, "steps.0.channels.0"),
    ({"channels": "email"}, "steps.0.channels"),
    ({"enabled": "yes"}, "steps.0.enabled"),
    ({"position": 7}, "steps.0.position"),
    ({"position": 2}, "steps.1.position"),  # step 2 twice
    ({"coupon": {"type": "percent", "amount": "150"}}, "steps.0.coupon.amount"),
    ({"coupon": {"type": "bogo"}}, "steps.0.coupon.type"),
    ({"coupon": {"type": "fixed", "amount": "-1"}}, "steps.0.coupon.amount"),
    ({"coupon": {"type": "percent", "amount": "10", "valid_hours": 0}}, "steps.0.coupon.valid_hours"),
    ({"delay": f"3{NUL}d"}, "steps.0.delay"),
    ({"delay": f"3{SURROGATE}d"}, "steps.0.delay"),
])
def test_hostile_steps_are_a_400_naming_the_field_and_change_nothing(shop, change, field):
    before = win_back(shop)
    answer = put(shop, "win_back", _steps(shop, **change))
    assert answer.status_code == 400, answer.get_data(as_text=True)
    error = answer.get_json()["error"]
    assert error["code"] == "validation_error" and field in error["fields"], error
    assert win_back(shop) == before


@pytest.mark.parametrize("body, field", [
    ({"enabled": True}, "steps"),
    ({"steps": []}, "enabled"),
    ({"enabled": 1, "steps": []}, "enabled"),
    ({"enabled": True, "steps": {}}, "steps"),
    ({"kind": "abandoned_cart", "enabled": True, "steps": []}, "kind"),
    ({"enabled": True, "steps": [None]}, "steps.0"),
])
def test_hostile_bodies_are_a_400(shop, body, field):
    answer = put(shop, "win_back", body)
    assert answer.status_code == 400 and field in answer.get_json()["error"]["fields"], answer.get_json()


def test_not_json_huge_unknown_or_unsigned_requests_are_refused(shop, client):
    assert put(shop, "win_back", None, raw="{").status_code == 400
    assert put(shop, "win_back", None, raw="[1]").status_code == 400
    huge = json.dumps({"enabled": True, "steps": [], "pad": "x" * 300_000})
    assert put(shop, "win_back", None, raw=huge).status_code == 413
    assert put(shop, "nope", {"enabled": True, "steps": []}).status_code == 404
    assert get(shop, "/api/v1/automations/%00").status_code == 400
    assert client.get("/api/v1/automations").status_code == 401
    forged = {"Authorization": "Bearer rtf_forged"}
    assert client.put("/api/v1/automations/win_back", json={"enabled": True, "steps": []},
                      headers=forged).status_code == 401


def test_a_store_changes_only_its_own_automations(shop, make_store):
    other = make_store(name="Other", domain="other.example")
    assert put(shop, "win_back", {**win_back(shop), "enabled": True}).status_code == 200
    assert win_back(other)["enabled"] is False


def test_the_report_counts_per_automation_and_the_funnel_names_it(make_store, app, runner):
    shop = make_store(country="US", timezone="America/New_York")
    assert runner.invoke(args=["automation", "enable", str(shop.store_id), "win_back"]).exit_code == 0
    shop.put_cart("c", cart_body(customer={"email": "carol@example.com"}))
    clock.freeze(T0 + timedelta(minutes=30))
    run_jobs(app)  # the cart's first reminder: a funnel row
    order(shop, "1")
    ten = datetime(2026, 4, 1, 14, 0, tzinfo=UTC)
    for moment in (T0 + timedelta(minutes=31), T0 + timedelta(days=30), ten):  # the next-order email goes first
        clock.freeze(moment)
        run_jobs(app)
    clock.freeze(ten + timedelta(days=2))
    order(shop, "2")  # won back: credited to the win-back email, not recovered
    with app.app_context():
        customer = db.session.query(Customer).filter_by(email="bob@example.com").one()
        customer.unsubscribed_at = ten + timedelta(days=3)
        db.session.commit()
    clock.freeze(ten + timedelta(days=5))
    report = get(shop, "/api/v1/reports/automations?from=2026-04-01&to=2026-04-10").get_json()
    rows = {row["kind"]: row for row in report["automations"]}
    assert rows["win_back"] == {"kind": "win_back", "sent": 1, "clicked": 0, "orders": 1, "revenue": "54.00",
                                "counts_as_recovered": False, "unsubscribes": 1}
    assert rows["abandoned_cart"]["orders"] == 0 and rows["abandoned_cart"]["counts_as_recovered"] is True
    summary = get(shop, "/api/v1/reports/summary?from=2026-04-01&to=2026-04-10").get_json()
    assert summary["recovered_revenue"] == "0.00"  # credited, not recovered
    assert get(shop, "/api/v1/reports/automations?from=2026-04-10&to=2026-04-01").status_code == 400
    funnel = get(shop, "/api/v1/reports/funnel?from=2026-03-01&to=2026-03-05").get_json()
    assert [(row["automation"], row["step"], row["sent"]) for row in funnel["steps"]][:1] == [
        ("abandoned_cart", 1, 1)]


def test_win_back_templates_preview_and_test_send_with_their_own_variables(shop):
    for channel in ("email", "sms"):
        for key in ("win_back/step1", "win_back/step2"):
            answer = shop.client.post("/api/v1/templates/preview", json={"channel": channel, "template": key},
                                      headers=shop.headers)
            assert answer.status_code == 200, answer.get_json()
            assert "Reply STOP" in answer.get_json()["text"] if channel == "sms" else "#1042" in answer.get_json()[
                "text"]
    sent = shop.client.post("/api/v1/templates/test-send", json={"channel": "email", "template": "win_back/step1",
                                                               "to": "qa@acme.example"}, headers=shop.headers)
    assert sent.status_code == 200, sent.get_json()
    saved = shop.client.put("/api/v1/templates/sms/win_back/step1", headers=shop.headers, json={
        "source": "{{ store.name }}: {{ days_since_last_order }} days! {{ coupon.code }} Reply STOP"})
    assert saved.status_code == 200, saved.get_json()


def test_reading_a_store_made_before_an_automation_existed_writes_nothing(shop, app):
    from retainful.models import Sequence
    import sqlalchemy as sa
    with app.app_context():  # as a store created before migration 0018 has it: only its abandoned-cart sequence
        db.session.execute(sa.delete(Sequence).where(Sequence.store_id == shop.store_id,
                                                     Sequence.kind != "abandoned_cart"))
        db.session.commit()
    assert win_back(shop)["enabled"] is False and len(win_back(shop)["steps"]) == 2
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Sequence.id)).where(
            Sequence.store_id == shop.store_id)) == 1
    assert put(shop, "win_back", {**win_back(shop), "enabled": True}).status_code == 200  # made on first change
    assert win_back(shop)["enabled"] is True

