"""win_back end to end with the moving clock: due at 10:00 in the recipient's own zone, a real code in the text,
stopped and restarted by any order, off by default, planned once, capped with the other automations."""
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from retainful import automations, carts, clock
from retainful.local_time import at_local_hour, recipient_zone
from retainful.extensions import db
from retainful.messaging.dispatch import Dispatcher
from retainful.models import Coupon, Message, Store
from tests.conftest import T0, cart_body

UTC = timezone.utc
BERLIN_PHONE = "+4915112345678"


def run_jobs(app):
    """A scheduler tick: sweep, plan the scanning automations, dispatch what is due, close."""
    with app.app_context():
        carts.sweep_abandoned()
        automations.plan_due()
        Dispatcher(app).run_due()
        carts.close_lost()


def at(app, when):
    clock.freeze(when)
    run_jobs(app)


def rows(app, **filters):
    filters.setdefault("kind", "win_back")
    with app.app_context():
        found = db.session.scalars(sa.select(Message).filter_by(**filters).order_by(Message.due_at, Message.channel,
                                                                                      Message.id)).all()
        db.session.expunge_all()
        return found


def sent(app, **filters):
    return [m for m in rows(app, **filters) if m.status == "sent"]


def enable(app, store_id, kind="win_back"):
    with app.app_context():
        automations.set_enabled(db.session.get(Store, store_id), kind, True)


def order(shop, order_id, **customer):
    customer = {"email": "bob@example.com", "first_name": "Bob", "email_consent": True, **customer}
    answer = shop.post_order({"order_id": order_id, "customer": customer, "total": "54.00", "currency": "USD",
                              "status": "processing"})
    assert answer.status_code in (200, 201), answer.get_json()


@pytest.fixture
def store(make_store, app):
    shop = make_store(country="US", timezone="America/New_York")
    with app.app_context():
        db.session.get(Store, shop.store_id).next_order_enabled = False  # only win-back mail in these outboxes
        db.session.commit()
    enable(app, shop.store_id)
    return shop


# --- the local send hour, as pure functions -------------------------------------------------------------------------

def test_the_recipients_zone_comes_from_the_phone_then_the_locale_then_the_store():
    assert recipient_zone(BERLIN_PHONE, "en_US", "America/New_York").key == "Europe/Berlin"
    assert recipient_zone("+12125551234", "fr_FR", "UTC").key == "America/New_York"  # by the area code
    assert recipient_zone("+18005550199", "fr_FR", "UTC").key == "Europe/Paris"  # toll-free: any US zone
    assert recipient_zone(None, "de_DE", "America/New_York").key == "Europe/Berlin"
    assert recipient_zone(None, "en_US", "America/Chicago").key == "America/Chicago"  # ambiguous: the store's
    assert recipient_zone("not a number", None, "Asia/Tokyo").key == "Asia/Tokyo"
    assert recipient_zone(None, "xx_??", "Nowhere/Invalid").key == "UTC"


def test_at_hour_is_the_next_local_hour_and_survives_dst():
    new_york = ZoneInfo("America/New_York")
    # Before 10:00 local: the same day; after: the next day.
    assert at_local_hour(datetime(2026, 6, 1, 13, 59, tzinfo=UTC), new_york, 10) == datetime(2026, 6, 1, 14, 0,
                                                                                             tzinfo=UTC)
    assert at_local_hour(datetime(2026, 6, 1, 14, 1, tzinfo=UTC), new_york, 10) == datetime(2026, 6, 2, 14, 0,
                                                                                            tzinfo=UTC)
    # Across the spring change the UTC hour moves (EST 15:00 UTC -> EDT 14:00 UTC): the local hour stays 10:00.
    assert at_local_hour(datetime(2027, 3, 13, 16, 0, tzinfo=UTC), new_york, 10) == datetime(2027, 3, 14, 14, 0,
                                                                                             tzinfo=UTC)
    # 02:00 does not exist on 2027-03-14 in New York: the first instant after the gap (03:00 EDT).
    assert at_local_hour(datetime(2027, 3, 14, 5, 0, tzinfo=UTC), new_york, 2) == datetime(2027, 3, 14, 7, 0,
                                                                                           tzinfo=UTC)
    # 01:00 happens twice on 2026-11-01: the first one (01:00 EDT = 05:00 UTC).
    assert at_local_hour(datetime(2026, 11, 1, 4, 0, tzinfo=UTC), new_york, 1) == datetime(2026, 11, 1, 5, 0,
                                                                                           tzinfo=UTC)


# --- end to end -----------------------------------------------------------------------------------------------------

def test_step_one_at_ten_local_with_free_shipping_then_step_two_with_15_percent(store, app):
    order(store, "1", phone="+12125551234", sms_consent=True)  # New York number
    at(app, T0 + timedelta(days=28))
    assert rows(app) == []  # planned a day ahead of the 30 days, not sooner
    at(app, T0 + timedelta(days=30))  # 2026-04-01 09:00 UTC = 05:00 in New York
    planned = rows(app)
    assert {m.channel for m in planned} == {"email", "sms"}
    step1 = datetime(2026, 4, 1, 14, 0, tzinfo=UTC)  # 10:00 EDT
    assert sorted({m.due_at for m in planned})[0] == step1
    at(app, step1 - timedelta(minutes=1))
    assert sent(app) == []  # never at the store's or the server's clock by mistake
    at(app, step1)
    email, sms = sorted(sent(app), key=lambda m: m.channel)
    assert (email.channel, sms.channel) == ("email", "sms")
    with app.app_context():
        coupon = db.session.get(Coupon, email.coupon_id)
        assert (coupon.kind, coupon.discount_type, coupon.customer_id is not None) == ("win_back", "free_shipping",
                                                                                         True)
        assert coupon.expires_at == step1 + timedelta(hours=48)
    assert email.coupon_id == sms.coupon_id  # one code per step, in both texts
    assert coupon.code in email.body_text and coupon.code in sms.body_text
    assert "30 days since your last order (#1)" in email.body_text
    step2 = datetime(2026, 5, 1, 14, 0, tzinfo=UTC)  # 60 days after the order, 10:00 EDT
    at(app, step2 - timedelta(minutes=1))
    assert len(sent(app)) == 2
    at(app, step2)
    later = [m for m in sent(app) if m.sent_at == step2]
    assert {m.channel for m in later} == {"email", "sms"}
    with app.app_context():
        second = db.session.get(Coupon, later[0].coupon_id)
        assert (second.discount_type, second.amount, second.expires_at) == ("percent", 15,
                                                                             step2 + timedelta(hours=48))
    assert "15% off" in later[0].body_text or "15% off" in later[1].body_text


def test_the_phone_numbers_zone_wins_over_the_stores(store, app):
    order(store, "1", phone=BERLIN_PHONE, sms_consent=True)
    at(app, T0 + timedelta(days=30))  # 2026-04-01 11:00 in Berlin (CEST): too late for today
    berlin_ten = datetime(2026, 4, 2, 8, 0, tzinfo=UTC)
    assert {m.due_at for m in rows(app) if m.trigger_at == T0 and m.due_at < T0 + timedelta(days=40)} == {
        berlin_ten}
    at(app, berlin_ten)
    assert {m.channel for m in sent(app)} == {"email", "sms"}


def test_sms_only_with_consent(store, app):
    order(store, "1", phone="+12125551234", sms_consent=False)
    at(app, T0 + timedelta(days=31))
    assert {m.channel for m in rows(app)} == {"email"}


def test_an_order_cancels_what_is_pending_and_restarts_the_count(store, app):
    order(store, "1")
    step1 = datetime(2026, 4, 1, 14, 0, tzinfo=UTC)
    at(app, step1)
    assert len(sent(app)) == 1
    clock.freeze(T0 + timedelta(days=45))
    order(store, "2")  # bought again: step 2 of the first series never goes out
    assert [m.status for m in rows(app)] == ["sent", "cancelled"]
    at(app, T0 + timedelta(days=61))
    assert len(sent(app)) == 1
    restart = T0 + timedelta(days=45 + 30)  # 2026-05-31 09:00 UTC = 05:00 EDT -> 10:00 EDT that day
    at(app, restart)
    at(app, datetime(2026, 5, 31, 14, 0, tzinfo=UTC))
    assert [m.sent_at for m in sent(app)] == [step1, datetime(2026, 5, 31, 14, 0, tzinfo=UTC)]


def test_an_order_the_planner_did_not_see_stops_the_message_when_it_is_sent(store, app):
    order(store, "1")
    at(app, T0 + timedelta(days=30))
    assert len(rows(app, status="scheduled")) == 2
    with app.app_context():  # an order recorded around intake (an import): only the send-time rule sees it
        db.session.execute(sa.update(Message).where(Message.kind == "win_back").values(trigger_at=T0 - timedelta(
            days=1)))
        db.session.commit()
    at(app, datetime(2026, 4, 1, 14, 0, tzinfo=UTC))
    assert [m.skip_reason for m in rows(app, status="skipped")] == ["ordered"]


def test_off_by_default(make_store, app):
    shop = make_store(name="Other", domain="other.example")
    order(shop, "1")
    at(app, T0 + timedelta(days=61))
    assert rows(app) == []
    with app.app_context():
        settings = automations.settings_for(shop.store_id, "win_back")
        assert settings.enabled is False and [s.at_hour for s in settings.steps] == [10, 10]


def test_planning_again_never_sends_twice(store, app):
    order(store, "1")
    at(app, T0 + timedelta(days=30))
    with app.app_context():  # forget the cursor: the whole stretch is read again
        settings = automations.settings_for(store.store_id, "win_back")
        settings.cursor_at = settings.cursor_id = None
        db.session.commit()
    at(app, T0 + timedelta(days=30, minutes=5))
    assert len(rows(app)) == 2  # steps 1 and 2, email only
    at(app, datetime(2026, 4, 1, 14, 0, tzinfo=UTC))
    at(app, T0 + timedelta(days=62))
    assert len(sent(app)) == 2


def test_switched_on_late_it_does_not_send_last_months_step(make_store, app):
    shop = make_store(name="Late", domain="late.example")
    order(shop, "1")
    clock.freeze(T0 + timedelta(days=45))
    enable(app, shop.store_id)
    at(app, T0 + timedelta(days=45))
    with app.app_context():
        positions = [db.session.get(Message, m.id).step.position for m in rows(app)]
    assert positions == [2]


def test_batches_are_bounded_and_every_customer_is_planned_once(store, app):
    for n in range(7):
        order(store, str(n), email=f"c{n}@example.com")
    clock.freeze(T0 + timedelta(days=30))
    with app.app_context():
        counts = automations.plan_due(batch_size=3)
    assert counts["win_back"] == 14
    assert len({m.dedup_key for m in rows(app)}) == 14


def test_caps_hold_across_automations(store, app):
    """One shopper, one email per 16 hours: the cart's reminder at 09:30 holds the win-back back that day."""
    order(store, "1")
    day30 = datetime(2026, 4, 1, 13, 0, tzinfo=UTC)  # 09:00 EDT
    clock.freeze(day30)
    store.put_cart("c", cart_body(customer={"email": "bob@example.com", "first_name": "Bob"}))
    at(app, day30 + timedelta(minutes=30))  # the cart's first reminder
    assert len(sent(app, kind="abandoned_cart")) == 1
    at(app, datetime(2026, 4, 1, 14, 0, tzinfo=UTC))
    assert [m.skip_reason for m in rows(app, status="skipped")] == ["frequency_cap"]


def test_a_transactional_automation_is_not_held_back_by_the_caps(make_store, app):
    """The next-order email goes out ten minutes after a cart reminder: it answers the shopper's own order."""
    shop = make_store(name="Caps", domain="caps.example", timezone="America/New_York")
    enable(app, shop.store_id)
    order(shop, "1")
    run_jobs(app)
    day30 = datetime(2026, 4, 1, 13, 0, tzinfo=UTC)
    clock.freeze(day30)
    shop.put_cart("c", cart_body(customer={"email": "bob@example.com", "first_name": "Bob"}))
    at(app, day30 + timedelta(minutes=30))  # the cart's reminder
    clock.freeze(day30 + timedelta(minutes=40))
    order(shop, "2")  # from the cart's shopper: a next-order email at once, despite the reminder
    at(app, day30 + timedelta(minutes=41))
    next_orders = sent(app, kind="next_order")
    assert len(next_orders) == 2 and next_orders[-1].sent_at == day30 + timedelta(minutes=41)
    assert {m.status for m in rows(app)} == {"cancelled"}  # and the order ended the pending win-back
