"""welcome, post_purchase, order_update and birthday end to end with the moving clock, on SQLite and PostgreSQL: due
at the right local hour across zones and DST, stopped by an order, no second series for a known subscriber, the
transactional order update free of the marketing caps but not of quiet hours, and the caps held across automations."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from retainful import automations, carts, clock
from retainful.extensions import db
from retainful.messaging.dispatch import Dispatcher
from retainful.models import Coupon, Customer, Message, Store
from tests.conftest import T0
from tests.test_woocommerce import coupon_row as coupon, deliver
from tests.woo_stub import woo_order_payload

UTC = timezone.utc
NY_PHONE, BERLIN_PHONE = "+12125551234", "+4915112345678"
LIFECYCLE = ("welcome", "post_purchase", "order_update", "birthday")


def run_jobs(app):
    """A scheduler tick: sweep, plan the scanning automations, dispatch what is due."""
    with app.app_context():
        carts.sweep_abandoned()
        automations.plan_due()
        Dispatcher(app).run_due()


def at(app, when):
    clock.freeze(when)
    run_jobs(app)


def rows(app, kind, **filters):
    with app.app_context():
        found = db.session.scalars(sa.select(Message).filter_by(kind=kind, **filters)
                                   .order_by(Message.due_at, Message.channel, Message.id)).all()
        db.session.expunge_all()
        return found


def sent(app, kind, **filters):
    return [m for m in rows(app, kind, **filters) if m.status == "sent"]


def enable(app, store_id, *kinds):
    with app.app_context():
        for kind in kinds:
            automations.set_enabled(db.session.get(Store, store_id), kind, True)


def subscribe(shop, **body):
    body = {"email": "alice@example.com", "first_name": "Alice", "email_consent": True, "source": "popup", **body}
    answer = shop.client.post("/api/v1/subscribers", json=body, headers=shop.headers)
    assert answer.status_code in (200, 201), answer.get_json()
    return answer


def place(shop, order_id, status="processing", **body):
    body = {"order_id": order_id, "customer": {"email": "alice@example.com"}, "total": "54.00", "currency": "USD",
            "status": status, **body}
    answer = shop.post_order(body)
    assert answer.status_code in (200, 201), answer.get_json()
    return answer


@pytest.fixture
def store(make_store, app):
    """A New York store whose next-order coupon is off, so only the automation under test writes."""
    shop = make_store(country="US", timezone="America/New_York")
    with app.app_context():
        db.session.get(Store, shop.store_id).next_order_enabled = False
        db.session.commit()
    return shop


def test_all_four_are_off_by_default(store, app):
    with app.app_context():
        store_row = db.session.get(Store, store.store_id)
        assert [automations.enabled_steps(store_row, automations.registry.get(kind))[1] for kind in LIFECYCLE] == [
            [], [], [], []]
    subscribe(store, phone=NY_PHONE, sms_consent=True, birthday="03-02")
    place(store, "1", status="completed")
    for moment in (T0, T0 + timedelta(days=1), T0 + timedelta(days=8)):
        at(app, moment)
    assert [rows(app, kind) for kind in LIFECYCLE] == [[], [], [], []]


# --- welcome --------------------------------------------------------------------------------------------------------

def test_welcome_email_at_once_with_a_first_purchase_code_then_an_sms_a_day_later(store, app):
    enable(app, store.store_id, "welcome")
    assert subscribe(store, phone=NY_PHONE, sms_consent=True).status_code == 201
    at(app, T0)
    (email,) = sent(app, "welcome")
    assert email.channel == "email" and email.recipient == "alice@example.com"
    code = coupon(app, email.coupon_id)
    assert (code.kind, code.discount_type, code.amount, code.expires_at) == ("welcome", "percent", 10,
                                                                             T0 + timedelta(days=7))
    assert code.code in email.body_text and "10% off" in email.subject
    # A day later is 04:00 in New York: the SMS waits for the end of quiet hours (08:00 EST = 13:00 UTC).
    at(app, T0 + timedelta(days=1))
    (sms,) = rows(app, "welcome", channel="sms")
    assert (sms.status, sms.due_at) == ("scheduled", datetime(2026, 3, 3, 13, 0, tzinfo=UTC))
    at(app, datetime(2026, 3, 3, 13, 0, tzinfo=UTC))
    (sms,) = sent(app, "welcome", channel="sms")
    assert sms.recipient == NY_PHONE and code.code in sms.body_text and sms.coupon_id == email.coupon_id


def test_a_known_subscriber_starts_no_second_series(store, app):
    enable(app, store.store_id, "welcome")
    subscribe(store, phone=NY_PHONE, sms_consent=True)
    at(app, T0 + timedelta(days=2, hours=6))  # 10:00 in New York
    assert len(sent(app, "welcome")) == 2
    assert subscribe(store, email="ALICE@example.com", source="footer_form").status_code == 200
    assert subscribe(store, phone=NY_PHONE).status_code == 200
    at(app, T0 + timedelta(days=5))
    assert len(rows(app, "welcome")) == 2 and len(sent(app, "welcome")) == 2


def test_the_first_order_stops_the_welcome_series(store, app):
    enable(app, store.store_id, "welcome")
    subscribe(store, phone=NY_PHONE, sms_consent=True)
    at(app, T0)
    clock.freeze(T0 + timedelta(hours=3))
    place(store, "1")
    assert [m.status for m in rows(app, "welcome")] == ["sent", "cancelled"]
    at(app, T0 + timedelta(days=3))
    assert len(sent(app, "welcome")) == 1


def test_an_order_between_planning_and_sending_skips_the_welcome(store, app):
    enable(app, store.store_id, "welcome")
    subscribe(store)
    with app.app_context():  # an order recorded with no customer data: matched later, only the policy sees it
        message = db.session.scalar(sa.select(Message).where(Message.kind == "welcome"))
        db.session.execute(sa.text("INSERT INTO shop_order (store_id, external_id, customer_id, total, currency, "
                                   "status, coupon_codes, placed_at, received_at, refunded) VALUES (:s, 'x', :c, 5, "
                                   "'USD', 'processing', '[]', :t, :t, 0)"),
                           {"s": store.store_id, "c": message.customer_id, "t": T0})
        db.session.commit()
    at(app, T0)
    assert [(m.status, m.skip_reason) for m in rows(app, "welcome")] == [("skipped", "ordered")]


def test_a_shopper_who_already_ordered_gets_no_welcome(store, app):
    enable(app, store.store_id, "welcome")
    place(store, "1")
    subscribe(store)
    at(app, T0 + timedelta(days=2))
    assert rows(app, "welcome") == []


# --- post_purchase --------------------------------------------------------------------------------------------------

def test_post_purchase_asks_for_a_review_seven_days_after_completion_with_the_unused_next_order_code(store, app):
    enable(app, store.store_id, "post_purchase", "next_order")
    subscribe(store)
    place(store, "A-1")
    at(app, T0)  # the next-order email goes at once (a day later it would hold the post-purchase one to the cap)
    assert len(sent(app, "next_order")) == 1
    clock.freeze(T0 + timedelta(days=1))
    place(store, "A-1", status="completed")
    (planned,) = rows(app, "post_purchase")
    assert planned.due_at == T0 + timedelta(days=8)
    at(app, T0 + timedelta(days=8) - timedelta(minutes=1))
    assert sent(app, "post_purchase") == []
    at(app, T0 + timedelta(days=8))
    (email,) = sent(app, "post_purchase")
    next_order = coupon(app, email.coupon_id)
    assert next_order.kind == "next_order" and next_order.code in email.body_text
    assert "#A-1" in email.subject and "review" in email.body_text.lower()


def test_a_used_next_order_code_is_not_reminded_and_a_refund_skips_the_follow_up(store, app):
    enable(app, store.store_id, "post_purchase", "next_order")
    subscribe(store)
    place(store, "A-1", status="completed")
    place(store, "B-2", status="completed")
    at(app, T0)  # the next-order emails
    with app.app_context():
        used = db.session.scalar(sa.select(Coupon).where(Coupon.kind == "next_order").order_by(Coupon.id))
        used.usage_count = 1
        db.session.commit()
    clock.freeze(T0 + timedelta(days=2))
    place(store, "B-2", status="refunded")
    at(app, T0 + timedelta(days=7))
    first, second = rows(app, "post_purchase")
    assert (first.status, first.coupon_id) == ("sent", None) and "#A-1" in first.subject
    assert (second.status, second.skip_reason) == ("skipped", "order_refunded")


# --- order_update ---------------------------------------------------------------------------------------------------

TRACKING_META = {"id": 9010, "key": "_wc_shipment_tracking_items", "value": [{
    "tracking_provider": "ups", "custom_tracking_provider": "", "custom_tracking_link": "",
    "tracking_number": "1Z999AA10123456784", "date_shipped": "1772409600",
    "tracking_id": "6f1b0f5bd3b1e5a9b5f0f2c7d1e4a8b3"}]}


def completed_woo_order(**overrides):
    payload = woo_order_payload(status="completed", date_completed_gmt="2026-03-02T08:59:00", **overrides)
    payload["meta_data"].append(TRACKING_META)
    return payload


def test_order_update_texts_the_carrier_and_link_when_the_shop_marks_it_completed(store, app):
    enable(app, store.store_id, "order_update")
    subscribe(store, phone="(212) 736-5000", sms_consent=True)  # the shop's billing phone, with consent
    clock.freeze(datetime(2026, 3, 2, 15, 0, tzinfo=UTC))  # 10:00 in New York
    assert deliver(store, woo_order_payload(status="processing")).status_code == 200
    assert rows(app, "order_update") == []  # processing is not shipped
    assert deliver(store, completed_woo_order(date_modified_gmt="2026-03-02T14:59:00"),
                   topic="order.updated").status_code == 200
    at(app, datetime(2026, 3, 2, 15, 0, tzinfo=UTC))
    (sms,) = sent(app, "order_update")
    assert sms.recipient == "+12127365000"
    assert "#727" in sms.body_text and "with UPS" in sms.body_text
    assert "https://www.ups.com/track?loc=en_US&tracknum=1Z999AA10123456784" in sms.body_text
    deliver(store, completed_woo_order(date_modified_gmt="2026-03-02T15:30:00"), topic="order.updated")
    at(app, datetime(2026, 3, 2, 16, 0, tzinfo=UTC))
    assert len(rows(app, "order_update")) == 1  # a repeated "completed" texts nobody twice


def test_order_update_ignores_the_marketing_caps_but_waits_out_quiet_hours(store, app):
    enable(app, store.store_id, "order_update", "birthday")
    subscribe(store, phone=NY_PHONE, sms_consent=True)
    with app.app_context():  # a marketing text an hour ago: the 24-hour SMS cap is in force
        customer_id = db.session.scalar(sa.select(Customer.id))
        db.session.add(Message(store_id=store.store_id, customer_id=customer_id, kind="win_back", channel="sms",
                               status="sent", due_at=T0 - timedelta(hours=1), sent_at=T0 - timedelta(hours=1)))
        db.session.commit()
    place(store, "1", status="completed")  # at T0: 04:00 in New York
    at(app, T0)
    (sms,) = rows(app, "order_update")
    assert (sms.status, sms.due_at) == ("scheduled", datetime(2026, 3, 2, 13, 0, tzinfo=UTC))  # 08:00 EST
    at(app, datetime(2026, 3, 2, 13, 0, tzinfo=UTC))
    (sms,) = sent(app, "order_update")
    assert "Your order #1 has shipped" in sms.body_text and "Track it" not in sms.body_text  # no tracking data


# --- birthday -------------------------------------------------------------------------------------------------------

def test_birthday_at_ten_in_each_recipients_own_zone_with_a_code_valid_seven_days(store, app):
    enable(app, store.store_id, "birthday")
    subscribe(store, email="berlin@example.com", phone=BERLIN_PHONE, birthday="1990-03-03")
    subscribe(store, email="ny@example.com", phone=NY_PHONE, birthday="03-03")
    subscribe(store, email="later@example.com", birthday="03-09")
    at(app, datetime(2026, 3, 2, 12, 0, tzinfo=UTC))  # the day before: both planned ahead
    due = {m.recipient or m.customer_id: m.due_at for m in rows(app, "birthday")}
    assert sorted(due.values()) == [datetime(2026, 3, 3, 9, 0, tzinfo=UTC),  # 10:00 CET
                                    datetime(2026, 3, 3, 15, 0, tzinfo=UTC)]  # 10:00 EST
    at(app, datetime(2026, 3, 3, 8, 59, tzinfo=UTC))
    assert sent(app, "birthday") == []
    at(app, datetime(2026, 3, 3, 9, 0, tzinfo=UTC))
    (berlin,) = sent(app, "birthday")
    assert berlin.recipient == "berlin@example.com" and "Happy birthday" in berlin.subject
    code = coupon(app, berlin.coupon_id)
    assert (code.kind, code.amount, code.expires_at) == ("birthday", 15, datetime(2026, 3, 10, 9, 0, tzinfo=UTC))
    at(app, datetime(2026, 3, 3, 14, 59, tzinfo=UTC))
    assert len(sent(app, "birthday")) == 1
    at(app, datetime(2026, 3, 3, 15, 0, tzinfo=UTC))
    assert [m.recipient for m in sent(app, "birthday")] == ["berlin@example.com", "ny@example.com"]
    # 03-09 is the Monday after the US spring change (2026-03-08): 10:00 EDT is 14:00 UTC, an hour earlier.
    at(app, datetime(2026, 3, 8, 12, 0, tzinfo=UTC))
    at(app, datetime(2026, 3, 9, 14, 0, tzinfo=UTC))
    assert [m.recipient for m in sent(app, "birthday")][-1] == "later@example.com"
    assert sent(app, "birthday")[-1].sent_at == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)


def test_a_birthday_comes_once_a_year_and_feb_29_falls_on_feb_28_in_other_years(store, app):
    enable(app, store.store_id, "birthday")
    subscribe(store, birthday="1992-02-29")
    for moment in (datetime(2027, 2, 27, 12, 0, tzinfo=UTC), datetime(2027, 2, 28, 15, 0, tzinfo=UTC),
                   datetime(2027, 2, 28, 20, 0, tzinfo=UTC), datetime(2027, 3, 1, 15, 0, tzinfo=UTC)):
        at(app, moment)  # the job runs all day long
    (first,) = sent(app, "birthday")
    assert first.sent_at == datetime(2027, 2, 28, 15, 0, tzinfo=UTC)  # 10:00 EST on Feb 28 (2027 has no Feb 29)
    for moment in (datetime(2028, 2, 27, 12, 0, tzinfo=UTC), datetime(2028, 2, 28, 15, 0, tzinfo=UTC),
                   datetime(2028, 2, 29, 15, 0, tzinfo=UTC)):
        at(app, moment)
    assert [m.sent_at for m in sent(app, "birthday")] == [datetime(2027, 2, 28, 15, 0, tzinfo=UTC),
                                                         datetime(2028, 2, 29, 15, 0, tzinfo=UTC)]
    assert len({m.dedup_key for m in rows(app, "birthday")}) == 2  # the key carries the year


def test_the_birthday_scan_reads_every_customer_in_bounded_batches(store, app):
    enable(app, store.store_id, "birthday")
    for n in range(7):
        subscribe(store, email=f"shopper{n}@example.com", birthday="03-03" if n % 3 else "1980-03-03")
    subscribe(store, email="other@example.com", birthday="04-03")
    clock.freeze(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    with app.app_context():
        assert automations.plan_due(batch_size=2)["birthday"] == 7
        assert automations.plan_due(batch_size=2)["birthday"] == 0  # the day's scan is done
    assert len(rows(app, "birthday")) == 7


def test_a_birthday_switched_on_late_in_the_day_still_goes_but_not_the_day_after(store, app):
    subscribe(store, email="today@example.com", birthday="03-02")
    subscribe(store, email="yesterday@example.com", birthday="03-01")
    enable(app, store.store_id, "birthday")
    at(app, datetime(2026, 3, 2, 22, 0, tzinfo=UTC))  # 17:00 in New York
    assert [m.recipient for m in sent(app, "birthday")] == ["today@example.com"]


# --- caps across automations ----------------------------------------------------------------------------------------

def test_one_shopper_gets_one_marketing_email_a_day_across_automations(store, app):
    enable(app, store.store_id, "welcome", "birthday", "post_purchase")
    subscribe(store, birthday="03-02")  # welcome now, birthday at 10:00 the same day
    at(app, T0)
    assert len(sent(app, "welcome")) == 1
    at(app, datetime(2026, 3, 2, 15, 0, tzinfo=UTC))
    (birthday,) = rows(app, "birthday")
    assert (birthday.status, birthday.skip_reason) == ("skipped", "frequency_cap")


# --- default templates ----------------------------------------------------------------------------------------------

TEMPLATES = [(channel, key, shown) for key, shown in (
    ("welcome/step1", "RT-SAMP-LE42"), ("welcome/step2", "RT-SAMP-LE42"), ("post_purchase/step1", "#1042"),
    ("order_update/step1", "https://www.ups.com/track?loc=en_US&tracknum=1Z999AA10123456784"),
    ("birthday/step1", "RT-SAMP-LE42")) for channel in ("email", "sms")]


@pytest.mark.parametrize("channel, key, shown", TEMPLATES, ids=[f"{c}-{k}" for c, k, _ in TEMPLATES])
def test_each_default_renders_through_the_preview_with_sample_data(store, channel, key, shown):
    response = store.client.post("/api/v1/templates/preview", json={"channel": channel, "template": key},
                                 headers=store.headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert shown in body["text"] and "{{" not in body["text"]
    if channel == "sms":
        assert body["encoding"] == "GSM-7" and body["text"].endswith("Reply STOP to opt out")
        assert body["segments"] <= 2 and not body["warnings"], body
    else:
        assert body["subject"] and "/unsubscribe/preview" in body["html"]


def test_an_edited_order_template_saves_and_sends_with_the_real_order(store, app):
    store.put_cart("recent", {"customer": {"email": "bob@example.com"}, "currency": "USD", "subtotal": "5",
                              "total": "5", "items": [{"product_id": "1", "name": "Mug", "quantity": 1,
                                                       "price": "5"}]})
    source = "{{ store.name }}: order {{ order.number }} left with {{ tracking.carrier }}. Reply STOP to opt out"
    saved = store.client.put("/api/v1/templates/sms/order_update/step1", json={"source": source},
                             headers=store.headers)
    assert saved.status_code == 200, saved.get_json()
    enable(app, store.store_id, "order_update")
    subscribe(store, phone=NY_PHONE, sms_consent=True)
    clock.freeze(datetime(2026, 3, 2, 15, 0, tzinfo=UTC))
    place(store, "77", status="completed", tracking=[{"carrier": "FedEx", "number": "7489"}])
    run_jobs(app)
    (sms,) = sent(app, "order_update")
    assert sms.body_text == "Acme Mugs: order 77 left with FedEx. Reply STOP to opt out"
