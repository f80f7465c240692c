"""``retainful demo-data``: a simulated history through the real domain functions that fills every report."""
import json
from datetime import timedelta
from statistics import mean
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from retainful import cli, clock, demo as demo_data, reports
from retainful.extensions import db
from retainful.models import Cart, Conversation, Coupon, CouponRedemption, Message, MessageStatus, Order, Store
from retainful.stores import create_store

DAYS = 21


def _store_id(app) -> int:
    with app.app_context():
        return create_store("Demo Store", "shop.example.com", timezone="America/New_York").store.id


def _run(runner, store_id, *args):
    return runner.invoke(args=["demo-data", str(store_id), "--days", str(DAYS), *args])


def test_demo_history_fills_every_report(app, runner):
    store_id = _store_id(app)
    result = _run(runner, store_id)
    assert result.exit_code == 0, result.output
    assert "carts" in result.output and "messages sent" in result.output
    with app.app_context():
        store = db.session.get(Store, store_id)
        now = clock.now()
        first_cart = db.session.scalar(sa.select(sa.func.min(Cart.created_at)).where(Cart.store_id == store_id))
        assert now - timedelta(days=DAYS, hours=1) <= first_cart < now - timedelta(days=DAYS - 1)  # --days honoured
        assert timedelta(days=DAYS // 2 - 1) < store.recovery_started_at - first_cart <= timedelta(days=DAYS // 2)
        # Nothing was sent before recovery started; plenty after.
        assert not db.session.scalar(sa.select(sa.func.count(Message.id)).where(
            Message.store_id == store_id, Message.sent_at < store.recovery_started_at))
        period = reports.resolve_period(store, days=DAYS)
        summary = reports.summary(store, period)
        assert summary["abandoned"] > 20 and summary["messages_sent"] > 20 and summary["recovered"] > 0
        assert summary["recovered_revenue"] > 0
        assert all(step["sent"] for step in reports.funnel(store, period) if step["channel"] == "email" and step["step"] <= 2)
        coupons = reports.coupon_report(store, period)
        assert coupons["recovery"]["issued"] and coupons["next_order"]["issued"]
        before_after = reports.before_after(store, days=DAYS)
        assert before_after["enough_history"], before_after["note"]
        assert before_after["before"]["orders"] and before_after["after"]["orders"]
        assert before_after["before"]["recovered_revenue"] == 0 < before_after["after"]["recovered_revenue"]
        automations = {row["kind"]: row for row in reports.automations_report(store, period)["automations"]}
        assert automations["abandoned_cart"]["sent"] and automations["next_order"]["sent"]
        assert db.session.scalar(sa.select(sa.func.count(Message.id)).where(
            Message.store_id == store_id, Message.kind == "welcome"))
        assert db.session.scalar(sa.select(sa.func.count(CouponRedemption.id)).where(
            CouponRedemption.store_id == store_id))
        assert db.session.scalar(sa.select(sa.func.count(Message.id)).where(
            Message.store_id == store_id, Message.clicked_at.is_not(None)))
        assert db.session.scalar(sa.select(sa.func.count(Message.id)).where(
            Message.store_id == store_id, Message.status == MessageStatus.SCHEDULED, Message.due_at > now))
        assert db.session.scalar(sa.select(sa.func.count(Order.id)).where(
            Order.store_id == store_id, Order.attributed_message_id.is_not(None)))
        # A weekly rhythm: more carts on an average weekday than on an average weekend day.
        zone = ZoneInfo(store.timezone)
        by_day: dict = {}
        for created in db.session.scalars(sa.select(Cart.created_at).where(Cart.store_id == store_id)):
            day = created.astimezone(zone).date()
            by_day[day] = by_day.get(day, 0) + 1
        full_days = {day: n for day, n in by_day.items() if min(by_day) < day < max(by_day)}
        assert mean(n for d, n in full_days.items() if d.weekday() < 5) > \
            mean(n for d, n in full_days.items() if d.weekday() >= 5)
        # Fake but valid-looking shoppers only.
        emails = db.session.scalars(sa.text("SELECT email FROM customer WHERE email IS NOT NULL")).all()
        assert emails and all(email.endswith("@example.com") for email in emails)
        phones = db.session.scalars(sa.text("SELECT phone FROM customer WHERE phone IS NOT NULL")).all()
        assert phones and all(phone[5:9] == "5550" and phone[9] == "1" for phone in phones)


def _history(app, store_id) -> dict:
    """What a second run with the same seed must repeat: the counts, the reports' totals, and every order."""
    with app.app_context():
        store = db.session.get(Store, store_id)
        summary = reports.summary(store, reports.resolve_period(store, days=DAYS))
        orders = db.session.execute(sa.select(Order.external_id, Order.total, Order.status, Order.attribution_rule)
                                    .where(Order.store_id == store_id).order_by(Order.external_id)).all()
        return {"counts": demo_data.counts(store), "summary": summary, "orders": orders,
                "before_after": reports.before_after(store, days=DAYS)}


def test_the_same_seed_makes_the_same_history_and_replace_replaces_it(app, runner):
    store_id = _store_id(app)
    first = _run(runner, store_id, "--days", "6")
    assert first.exit_code == 0, first.output
    assert "Simulating 6 days of store" in first.output  # the progress bar's label
    made = _history(app, store_id)
    assert made["counts"]["messages_sent"] and made["summary"]["recovered"] and made["orders"]
    again = _run(runner, store_id, "--days", "6")
    assert again.exit_code != 0 and "--replace" in again.output
    assert _history(app, store_id) == made  # refused: nothing added
    replaced = _run(runner, store_id, "--days", "6", "--replace")
    assert replaced.exit_code == 0, replaced.output
    assert _history(app, store_id) == made  # the same seed, the same history, in place of the first
    with app.app_context():
        assert not db.session.scalar(sa.select(sa.func.count(Conversation.id)).where(Conversation.store_id != store_id))
        assert db.session.scalar(sa.select(sa.func.count(Coupon.id)))
    assert _run(runner, store_id, "--days", "6", "--seed", "2", "--replace").exit_code == 0
    assert _history(app, store_id)["orders"] != made["orders"]  # another seed, another history


def test_demo_data_needs_an_existing_store_and_sane_days(runner):
    assert "no store with id 999" in runner.invoke(args=["demo-data", "999"]).output
    assert runner.invoke(args=["demo-data", "1", "--days", "1"]).exit_code == 2


def test_demo_store_offers_history_while_the_store_is_empty(app, runner, tmp_path, monkeypatch):
    app.instance_path = str(tmp_path)
    offered = runner.invoke(args=["demo-store", "--offer-history"])  # not a terminal: the command, no question
    assert offered.exit_code == 0 and "Created demo store" in offered.output
    store_id = json.loads((tmp_path / "demo-store.json").read_text())["id"]
    assert f"retainful demo-data {store_id}" in offered.output and "[y/N]" not in offered.output
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    declined = runner.invoke(args=["demo-store", "--offer-history"], input="n\n")
    assert "Load 90 days of demo history? [y/N]" in declined.output and "Simulating" not in declined.output
    assert _run(runner, store_id, "--days", "2").exit_code == 0
    filled = runner.invoke(args=["demo-store", "--offer-history"])
    assert "demo history" not in filled.output and "[y/N]" not in filled.output
