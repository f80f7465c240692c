"""Campaigns end to end on SQLite and PostgreSQL: created and validated over the API (hostile input too), segments
filter and count, the expander enqueues every recipient once in paced batches (run twice, or twice at once), the
send policy holds (consent, opt-outs, suppression, quiet hours, caps on request), local_time, cancel, results."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from retainful import clock
from retainful.campaigns import sending
from retainful.extensions import db
from retainful.messaging.dispatch import Dispatcher
from retainful.models import Campaign, Coupon, Customer, Message, Order, Store
from tests.conftest import T0, cart_body

UTC = timezone.utc
NUL, SURROGATE = "\u0000", "\ud800"
SEOUL_PHONE, BERLIN_PHONE, NY_PHONE = "+821012345678", "+4915112345678", "+12125551234"


def subscribe(shop, email=None, phone=None, **fields):
    body = {"email": email, "phone": phone, **fields}
    answer = shop.client.post("/api/v1/subscribers", json={k: v for k, v in body.items() if v is not None},
                              headers=shop.headers)
    assert answer.status_code in (200, 201), answer.get_json()
    return answer.get_json()


def create(shop, **body):
    body = {"name": "Winter sale", "channels": ["email"], **body}
    return shop.client.post("/api/v1/campaigns", json=body, headers=shop.headers)


def created(shop, **body) -> dict:
    answer = create(shop, **body)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def results(shop, campaign_id) -> dict:
    answer = shop.client.get(f"/api/v1/campaigns/{campaign_id}", headers=shop.headers)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def preview(shop, segment, channels=("email",)):
    answer = shop.client.post("/api/v1/campaigns/preview-segment", json={"segment": segment,
                                                                          "channels": list(channels)},
                              headers=shop.headers)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def expand(app):
    with app.app_context():
        return sending.expand_due()


def dispatch(app, after=timedelta(minutes=1)):
    """The dispatcher a little later: a campaign's rows are spaced at its send rate, so not all are due at once."""
    clock.freeze(clock.now() + after)
    with app.app_context():
        return Dispatcher(app).run_due()


def rows(app, **filters):
    with app.app_context():
        found = db.session.scalars(sa.select(Message).filter_by(kind="campaign", **filters)
                                   .order_by(Message.id)).all()
        db.session.expunge_all()
        return found


def fans(shop, count, **fields):
    return [subscribe(shop, f"fan{i}@example.com", email_consent=True, **fields) for i in range(count)]


# --- create and validate ---------------------------------------------------------------------------------------------

def test_a_campaign_is_created_scheduled_listed_and_read(shop, app):
    fans(shop, 3)
    body = created(shop, send_at="2026-03-03T10:00:00", segment={"country": ["us"]},
                   coupon={"type": "percent", "amount": "15", "valid_hours": 72},
                   templates={"email": {"source": {"subject": "Hi {{ customer.first_name or 'there' }}",
                                                    "html": "<p>{{ campaign.name }}</p>"}}})
    assert body["state"] == "scheduled"
    assert body["send_at"].startswith("2026-03-03T15:00:00")  # 10:00 in New York, the store's zone
    assert body["send_at_local"] == "2026-03-03T10:00:00"
    assert body["segment"] == {"country": ["us"]}
    assert body["coupon"] == {"type": "percent", "amount": "15.00", "minimum": None, "valid_hours": 72}
    assert body["recipient_count"] == 0  # the fans have no phone nor locale: no country
    listed = shop.client.get("/api/v1/campaigns", headers=shop.headers).get_json()["campaigns"]
    assert [c["id"] for c in listed] == [body["id"]]
    read = results(shop, body["id"])
    assert (read["state"], read["sent"], read["skipped"], read["revenue"], read["currency"]) == (
        "scheduled", 0, {}, "0.00", "USD")
    draft = created(shop)
    assert (draft["state"], draft["send_at"], draft["recipient_count"]) == ("draft", None, 3)


def test_an_offset_given_is_honoured(shop):
    body = created(shop, send_at="2026-03-03T10:00:00+09:00")
    assert body["send_at"].startswith("2026-03-03T01:00:00")


@pytest.mark.parametrize("body, field", [
    ({"name": ""}, "name"),
    ({"name": 7}, "name"),
    ({"channels": []}, "channels"),
    ({"channels": ["fax"]}, "channels.0"),
    ({"channels": "email"}, "channels"),
    ({"segment": {"shoe_size": 9}}, "segment.shoe_size"),
    ({"segment": {"order_count": {"min": "two"}}}, "segment.order_count.min"),
    ({"segment": {"order_count": {"min": 5, "max": 2}}}, "segment.order_count.min"),
    ({"segment": {"total_spent": {"max": "-1"}}}, "segment.total_spent.max"),
    ({"segment": {"country": ["KOR"]}}, "segment.country.0"),
    ({"segment": {"abandoned_cart_within_days": True}}, "segment.abandoned_cart_within_days"),
    ({"segment": {"last_order_before": "yesterday"}}, "segment.last_order_before"),
    ({"segment": {"last_order_after": "1500-01-01T00:00:00"}}, "segment.last_order_after"),
    ({"segment": []}, "segment"),
    ({"templates": {"email": {"key": "nope/step9"}}}, "templates.email.key"),
    ({"templates": {"email": {"key": "campaign/news", "source": {"text": "x"}}}}, "templates.email"),
    ({"templates": {"email": {"source": {"html": "<p>no subject</p>"}}}}, "templates.email.source.subject"),
    ({"templates": {"email": {"source": {"subject": "Hi", "html": "{% if %}"}}}}, "templates.email.source"),
    ({"templates": {"email": {"source": {"subject": "{{ ''.__class__.__mro__ }}", "html": "x"}}}},
     "templates.email.source"),
    ({"templates": {"sms": {"source": {"text": "Hi"}}}}, "templates.sms"),
    ({"coupon": {"type": "percent", "amount": "150"}}, "coupon.amount"),
    ({"coupon": {"type": "bogus"}}, "coupon.type"),
    ({"send_at": "2026-03-01T10:00:00"}, "send_at"),
    ({"send_at": "not a time"}, "send_at"),
    ({"send_at": "9999-12-31T23:59:59-12:00"}, "send_at"),
    ({"local_time": "yes"}, "local_time"),
    ({"frequency_cap": 1}, "frequency_cap"),
    ({"name": f"bad{NUL}"}, "name"),
    ({"name": f"bad{SURROGATE}"}, "name"),
])
def test_bad_input_is_a_400_naming_the_field(shop, app, body, field):
    answer = create(shop, **body)
    assert answer.status_code == 400, answer.get_json()
    assert field in answer.get_json()["error"]["fields"], answer.get_json()
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Campaign.id))) == 0  # nothing half-saved


def test_hostile_bodies_and_auth(shop, make_store, app):
    big = json.dumps({"name": "x" * 300_000, "channels": ["email"]})
    assert shop.client.post("/api/v1/campaigns", data=big, content_type="application/json",
                            headers=shop.headers).status_code == 413
    assert shop.client.post("/api/v1/campaigns", data="{", content_type="application/json",
                            headers=shop.headers).status_code == 400
    assert shop.client.post("/api/v1/campaigns", data="name=x", headers=shop.headers).status_code == 415
    assert shop.client.post("/api/v1/campaigns", json={"name": "x", "channels": ["email"]}).status_code == 401
    forged = {"Authorization": "Bearer rk_forged"}
    assert shop.client.get("/api/v1/campaigns", headers=forged).status_code == 401
    assert shop.client.post("/api/v1/campaigns/preview-segment", json={"channels": ["email"]},
                            headers=forged).status_code == 401
    mine = created(shop)
    other = make_store(name="Other", domain="other.example")
    for path in (f"/api/v1/campaigns/{mine['id']}", "/api/v1/campaigns/99999999999", "/api/v1/campaigns/abc",
                 f"/api/v1/campaigns/{mine['id']}%00"):
        assert other.client.get(path, headers=other.headers).status_code in (400, 404), path
    assert other.client.get(f"/api/v1/campaigns/{mine['id']}", headers=other.headers).status_code == 404
    assert other.client.post(f"/api/v1/campaigns/{mine['id']}/cancel", headers=other.headers).status_code == 404
    assert other.client.get("/api/v1/campaigns", headers=other.headers).get_json() == {"campaigns": []}
    assert shop.client.get("/api/v1/campaigns?limit=0", headers=shop.headers).status_code == 400


# --- segments --------------------------------------------------------------------------------------------------------

def order(shop, order_id, email, total, placed_at, status="completed"):
    answer = shop.post_order({"order_id": order_id, "customer": {"email": email}, "total": total, "currency": "USD",
                              "status": status, "created_at": placed_at})
    assert answer.status_code in (200, 201), answer.get_json()


def test_each_segment_filter_and_consent_on_the_channels(shop, app):
    subscribe(shop, "ko@example.com", SEOUL_PHONE, email_consent=True, sms_consent=True, locale="ko_KR")
    subscribe(shop, "de@example.com", BERLIN_PHONE, email_consent=True, locale="de_DE")
    subscribe(shop, "at@example.com", email_consent=True, locale="de-AT")
    subscribe(shop, "us@example.com", NY_PHONE, email_consent=True, sms_consent=True)
    subscribe(shop, "no@example.com", email_consent=False, locale="de_DE")  # said no: in no segment
    subscribe(shop, "quiet@example.com")  # never said yes: a campaign is marketing, it needs a yes
    order(shop, "1", "ko@example.com", "20.00", "2026-01-10T12:00:00Z")
    order(shop, "2", "ko@example.com", "30.00", "2026-02-10T12:00:00Z")
    order(shop, "3", "de@example.com", "500.00", "2026-02-20T12:00:00Z")
    order(shop, "4", "us@example.com", "99.00", "2025-06-01T12:00:00Z", status="refunded")  # not an order
    assert shop.put_cart("c1", cart_body(customer={"email": "at@example.com"})).status_code in (200, 201)
    clock.freeze(T0 + timedelta(hours=3))
    with app.app_context():
        from retainful import carts
        carts.sweep_abandoned()

    def emails(segment, channels=("email",)):
        found = preview(shop, segment, channels)
        assert found["count"] == len(found["sample"])
        return sorted(c["email"] for c in found["sample"])

    assert emails({}) == ["at@example.com", "de@example.com", "ko@example.com", "us@example.com"]
    assert emails({}, ["sms"]) == ["ko@example.com", "us@example.com"]
    assert emails({"country": ["kr", "DE"]}) == ["de@example.com", "ko@example.com"]
    assert emails({"country": ["AT"]}) == ["at@example.com"]  # from the locale when there is no phone
    assert emails({"locale": ["de"]}) == ["at@example.com", "de@example.com"]
    assert emails({"locale": ["de_AT"]}) == ["at@example.com"]
    assert emails({"order_count": {"min": 2}}) == ["ko@example.com"]
    assert emails({"order_count": {"max": 0}}) == ["at@example.com", "us@example.com"]
    assert emails({"total_spent": {"min": "100"}}) == ["de@example.com"]
    assert emails({"total_spent": {"min": "10", "max": "60"}}) == ["ko@example.com"]
    assert emails({"last_order_after": "2026-02-15T00:00:00"}) == ["de@example.com"]
    # last_order_at is the last order placed, whatever became of it (us@ was refunded)
    assert emails({"last_order_before": "2026-02-15T00:00:00"}) == ["ko@example.com", "us@example.com"]
    assert emails({"abandoned_cart_within_days": 7}) == ["at@example.com"]
    assert emails({"country": ["DE"], "order_count": {"min": 1}, "total_spent": {"min": "499.99"}}) == [
        "de@example.com"]


def test_preview_segment_refuses_bad_input(shop):
    for body, field in (({"channels": []}, "channels"), ({"channels": ["email"], "segment": {"x": 1}}, "segment.x"),
                        ({"channels": ["email"], "segment": {"locale": [f"de{NUL}"]}}, "segment.locale.0")):
        answer = shop.client.post("/api/v1/campaigns/preview-segment", json=body, headers=shop.headers)
        assert answer.status_code == 400 and field in answer.get_json()["error"]["fields"], answer.get_json()


# --- sending ---------------------------------------------------------------------------------------------------------

@pytest.fixture
def small_batches(app):
    app.config.update(CAMPAIGN_BATCH_SIZE=3, CAMPAIGN_SEND_RATE=1000)


def test_a_campaign_bigger_than_a_batch_goes_out_once_even_expanded_twice(shop, app, small_batches):
    fans(shop, 10)
    campaign = created(shop, send_at="2026-03-02T04:00:00")  # now, in New York
    assert expand(app) == 10
    assert expand(app) == 0  # a second run finds nothing left
    dispatch(app)
    sent = rows(app, status="sent")
    assert len(sent) == 10 and len({m.customer_id for m in sent}) == 10
    assert {m.recipient for m in sent} == {f"fan{i}@example.com" for i in range(10)}
    expand(app)  # the next run finds nothing pending: the campaign is sent
    read = results(shop, campaign["id"])
    assert (read["state"], read["recipient_count"], read["sent"], read["scheduled"]) == ("sent", 10, 10, 0)


def test_two_expanders_at_once_write_each_row_once(shop, app, small_batches):
    fans(shop, 12)
    created(shop, send_at="2026-03-02T04:00:00")
    errors = []

    def run():
        try:
            expand(app)
        except Exception as error:  # SQLite may refuse the loser's write: it retries on the next run
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expand(app)
    found = rows(app)
    assert len(found) == 12 and len({m.customer_id for m in found}) == 12
    with app.app_context():
        assert db.session.scalar(sa.select(Campaign.recipient_count)) == 12


def test_rows_are_paced_at_the_send_rate(shop, app):
    app.config.update(CAMPAIGN_SEND_RATE=2)
    fans(shop, 4)
    created(shop, send_at="2026-03-02T05:00:00")  # an hour from now
    clock.freeze(T0 + timedelta(minutes=55))
    expand(app)
    assert [m.due_at for m in rows(app)] == [T0 + timedelta(hours=1, seconds=s / 2) for s in range(4)]


def test_the_policy_holds_campaign_messages(shop, app):
    subscribe(shop, "ok@example.com", NY_PHONE, email_consent=True, sms_consent=True)
    subscribe(shop, "gone@example.com", email_consent=True)
    subscribe(shop, "bounced@example.com", email_consent=True)
    campaign = created(shop, channels=["email", "sms"], send_at="2026-03-02T04:00:00",
                       templates={"sms": {"source": {"text": "{{ store.name }}: sale! {{ recovery_url }}"}}})
    expand(app)
    with app.app_context():  # after the expansion: the send-time policy must see it
        customers = {c.email: c for c in db.session.scalars(sa.select(Customer))}
        customers["gone@example.com"].unsubscribed_at = clock.now()
        customers["bounced@example.com"].email_suppressed_at = clock.now()
        db.session.commit()
    dispatch(app)
    by_channel = {(m.recipient or m.channel, m.status, m.skip_reason) for m in rows(app)}
    assert ("ok@example.com", "sent", None) in by_channel
    assert ("email", "skipped", "unsubscribed") in by_channel and ("email", "skipped", "suppressed") in by_channel
    sms = rows(app, channel="sms")
    assert [m.status for m in sms] == ["scheduled"]  # 04:00 in New York: quiet hours
    assert sms[0].due_at == datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # 08:00 there
    clock.freeze(datetime(2026, 3, 2, 13, 0, 1, tzinfo=UTC))
    dispatch(app)
    assert rows(app, channel="sms")[0].body_text.startswith("Acme Mugs: sale! http")
    read = results(shop, campaign["id"])
    assert (read["sent"], read["skipped"]) == (2, {"unsubscribed": 1, "suppressed": 1})


def test_frequency_caps_only_when_the_campaign_asks(shop, app):
    fans(shop, 1)
    with app.app_context():
        db.session.get(Store, shop.store_id).email_cap_hours = 24
        db.session.commit()
    first = created(shop, name="One", send_at="2026-03-02T04:00:00")
    expand(app), dispatch(app)
    capped = created(shop, name="Two", send_at="2026-03-02T04:00:00", frequency_cap=True)
    uncapped = created(shop, name="Three", send_at="2026-03-02T04:00:00")
    expand(app), dispatch(app)
    assert results(shop, first["id"])["sent"] == 1
    assert results(shop, capped["id"])["skipped"] == {"frequency_cap": 1}
    assert results(shop, uncapped["id"])["sent"] == 1


def test_local_time_sends_at_each_recipients_clock(shop, app):
    subscribe(shop, "seoul@example.com", SEOUL_PHONE, email_consent=True)
    subscribe(shop, "berlin@example.com", BERLIN_PHONE, email_consent=True)
    subscribe(shop, "store@example.com", email_consent=True)  # no phone, no locale: the store's clock
    created(shop, send_at="2026-03-03T10:00:00", local_time=True)
    clock.freeze(datetime(2026, 3, 2, 19, 51, tzinfo=UTC))  # 10:00 on UTC+14's clock is 20:00 UTC the day before
    expand(app)
    due = {m.customer_id: m.due_at for m in rows(app)}
    with app.app_context():
        ids = {c.email: c.id for c in db.session.scalars(sa.select(Customer))}
    assert due[ids["seoul@example.com"]] == datetime(2026, 3, 3, 1, 0, tzinfo=UTC)  # 10:00 KST
    assert due[ids["berlin@example.com"]] == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)  # 10:00 CET
    assert due[ids["store@example.com"]] == datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # 10:00 in New York


def test_cancel_stops_what_is_not_sent(shop, app, small_batches):
    fans(shop, 7)
    campaign = created(shop, send_at="2026-03-02T04:00:00")
    with app.app_context():  # one batch enqueued and sent, one enqueued only
        sending.expand_batch(db.session.get(Campaign, campaign["id"]), 3, 1000)
    dispatch(app)
    with app.app_context():
        sending.expand_batch(db.session.get(Campaign, campaign["id"]), 3, 1000)
    answer = shop.client.post(f"/api/v1/campaigns/{campaign['id']}/cancel", headers=shop.headers)
    assert answer.status_code == 200 and answer.get_json()["cancelled"] == 3, answer.get_json()
    expand(app), dispatch(app)
    read = results(shop, campaign["id"])
    assert (read["state"], read["sent"], read["cancelled"], read["scheduled"]) == ("cancelled", 3, 3, 0)
    assert len(rows(app)) == 6  # the last recipient was never enqueued
    again = shop.client.post(f"/api/v1/campaigns/{campaign['id']}/cancel", headers=shop.headers)
    assert again.status_code == 409


def test_results_count_opens_clicks_orders_and_unsubscribes(shop, app):
    fans(shop, 3)
    campaign = created(shop, send_at="2026-03-02T04:00:00", coupon={"type": "fixed", "amount": "5"})
    expand(app), dispatch(app)
    sent = rows(app, status="sent")
    assert len(sent) == 3
    with app.app_context():
        codes = set(db.session.scalars(sa.select(Coupon.code).where(Coupon.kind == "campaign")))
    assert len(codes) == 3 and all(m.body_text and any(c in m.body_text for c in codes) for m in sent)
    clock.freeze(T0 + timedelta(minutes=10))
    shop.client.get(f"/o/{sent[0].link_code}.gif")
    shop.client.get(f"/o/{sent[1].link_code}.gif")
    assert shop.client.get(f"/r/{sent[0].link_code}").status_code == 302
    order(shop, "900", "fan0@example.com", "80.00", "2026-03-02T09:30:00Z")
    with app.app_context():
        fan2 = db.session.get(Customer, sent[2].customer_id)
        fan2.unsubscribed_at = clock.now()
        db.session.commit()
    read = results(shop, campaign["id"])
    assert (read["opened"], read["clicked"], read["orders_credited"], read["revenue"], read["unsubscribes"]) == (
        2, 1, 1, "80.00", 1)
    with app.app_context():
        assert db.session.scalar(sa.select(Order.credited_message_id)) == sent[0].id


def test_rows_a_worker_holds_when_the_campaign_is_cancelled_are_skipped(shop, app):
    fans(shop, 2)
    campaign = created(shop, send_at="2026-03-02T04:00:00")
    expand(app)
    with app.app_context():  # cancelled while a worker had its rows claimed: they stay scheduled for this test
        db.session.get(Campaign, campaign["id"]).state = "cancelled"
        db.session.commit()
    dispatch(app)
    assert {(m.status, m.skip_reason) for m in rows(app)} == {("skipped", "campaign_cancelled")}


def test_schedule_moves_a_draft_and_refuses_bad_input(shop, make_store):
    draft = created(shop)
    path = f"/api/v1/campaigns/{draft['id']}/schedule"
    answer = shop.client.post(path, json={"send_at": "2026-03-04T10:00:00", "local_time": True}, headers=shop.headers)
    assert answer.status_code == 200, answer.get_json()
    assert (answer.get_json()["state"], answer.get_json()["local_time"]) == ("scheduled", True)
    for body, field in (({}, "send_at"), ({"send_at": "2026-03-04T10:00:00", "local_time": "no"}, "local_time"),
                        ({"send_at": f"2026-03-04T10:00:00{NUL}"}, "send_at")):
        refused = shop.client.post(path, json=body, headers=shop.headers)
        assert refused.status_code == 400 and field in refused.get_json()["error"]["fields"], refused.get_json()
    other = make_store(name="Other", domain="other.example")
    assert other.client.post(path, json={"send_at": "2026-03-04T10:00:00"}, headers=other.headers).status_code == 404
    shop.client.post(f"/api/v1/campaigns/{draft['id']}/cancel", headers=shop.headers)
    again = shop.client.post(path, json={"send_at": "2026-03-04T10:00:00"}, headers=shop.headers)
    assert again.status_code == 400 and "state" in again.get_json()["error"]["fields"]
