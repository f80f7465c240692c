"""The recovery sequence end to end with the sandbox providers: on time, exactly once, stopped by the shopper."""
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from retainful import carts, clock
from retainful.extensions import db
from retainful.messaging import outbox
from retainful.messaging.dispatch import Dispatcher, Providers
from retainful.messaging.providers.sandbox import SandboxEmailProvider, SandboxSmsProvider
from retainful.models import Cart, Customer, Message, Store
from retainful.automations import update_step
from tests.conftest import T0, cart_body

STEP_DELAYS = [timedelta(minutes=30), timedelta(hours=6), timedelta(days=2), timedelta(days=4), timedelta(days=7)]


def run_jobs(app):
    """What the scheduler does on a tick: sweep, dispatch everything due, close."""
    with app.app_context():
        carts.sweep_abandoned()
        outcome = Dispatcher(app).run_due()
        carts.close_lost()
        return outcome


def messages(app, **filters):
    """Outbox rows, the abandoned-cart sequence's unless another kind is asked for."""
    filters.setdefault("kind", "abandoned_cart")
    with app.app_context():
        query = sa.select(Message).filter_by(**filters).order_by(Message.due_at, Message.channel)
        rows = db.session.scalars(query).all()
        db.session.expunge_all()
        return rows


def sent(app, **filters):
    return [m for m in messages(app, **filters) if m.status == "sent"]


def at(app, delta):
    clock.freeze(T0 + delta)
    return run_jobs(app)


def walk(app, *deltas):
    """Run the jobs at each of these moments, as the scheduler would."""
    for delta in deltas:
        at(app, delta)


def email_only(**customer):
    return cart_body(customer={"email": "alice@example.com", "first_name": "Alice", **customer})


def test_five_emails_at_the_recommended_times_and_no_others(shop, app):
    shop.put_cart("c", email_only())
    times = []
    for delay in STEP_DELAYS:
        at(app, delay - timedelta(minutes=1))
        assert len(sent(app)) == len(times), f"nothing may go out before {delay}"
        at(app, delay)
        times.append(T0 + delay)
        assert [m.sent_at for m in sent(app)] == times
    at(app, timedelta(days=30))
    assert len(sent(app)) == 5
    assert {m.channel for m in sent(app)} == {"email"}
    assert shop.get_cart("c").get_json()["status"] == "lost"


def test_first_email_is_personal_and_carries_unsubscribe(shop, app):
    shop.put_cart("c", email_only())
    at(app, timedelta(minutes=30))
    (message,) = sent(app)
    assert message.recipient == "alice@example.com"
    assert message.subject == "Alice, you left something behind"
    assert "Hi Alice" in message.body_text and "Red mug" in message.body_text
    assert f"/r/{message.link_code}" in message.body_text
    assert "/unsubscribe/" in message.body_html
    assert message.provider == "sandbox" and message.provider_message_id.startswith("sandbox-")


def test_order_stops_the_sequence_at_once(shop, app):
    shop.put_cart("c", email_only())
    at(app, timedelta(minutes=30))
    clock.freeze(T0 + timedelta(hours=3))
    shop.post_order({"order_id": "1", "cart_token": "c", "total": "36.95", "currency": "USD", "status": "processing"})
    assert {m.status for m in messages(app, channel="email")} == {"sent", "cancelled"}
    assert len(messages(app, status="cancelled")) == 4
    at(app, timedelta(days=8))
    assert len(sent(app)) == 1


def test_order_from_another_device_stops_the_sequence(shop, app):
    shop.put_cart("laptop", email_only())
    at(app, timedelta(minutes=20))
    clock.freeze(T0 + timedelta(minutes=25))
    shop.post_order({"order_id": "9", "customer": {"email": "alice@example.com"}, "total": "5", "currency": "USD",
                     "status": "processing"})
    at(app, timedelta(days=8))
    assert sent(app) == []


def test_return_cancels_pending_and_next_abandonment_plans_only_unsent_steps(shop, app):
    shop.put_cart("c", email_only())
    at(app, timedelta(minutes=30))  # step 1 sent
    clock.freeze(T0 + timedelta(hours=1))
    shop.put_cart("c", email_only())  # the shopper is back
    assert len(messages(app, status="cancelled")) == 4
    back = T0 + timedelta(hours=1)
    at(app, timedelta(hours=1, minutes=15))  # abandoned again
    pending = messages(app, status="scheduled", channel="email")
    assert [m.due_at for m in pending] == [back + d for d in STEP_DELAYS[1:]]
    at(app, timedelta(days=9))
    assert len(sent(app)) == 5  # step 1 once, steps 2-5 once


def test_planning_twice_never_sends_twice(shop, app):
    shop.put_cart("c", email_only())
    at(app, timedelta(minutes=15))
    with app.app_context():
        from retainful.automations import plan_abandoned
        cart_id = db.session.scalar(sa.text("SELECT id FROM cart"))
        plan_abandoned([cart_id])
        plan_abandoned([cart_id])
    assert len(messages(app, channel="email")) == 5
    at(app, timedelta(minutes=30))
    assert len(sent(app)) == 1


def test_deleted_cart_and_unsubscribe_cancel_pending(shop, app):
    shop.put_cart("gone", email_only())
    at(app, timedelta(minutes=16))
    shop.delete_cart("gone")
    assert {m.status for m in messages(app)} == {"cancelled"}


def test_unreachable_guest_gets_no_plan(shop, app):
    shop.put_cart("g", cart_body(customer=None))
    at(app, timedelta(days=9))
    assert messages(app) == []
    assert shop.get_cart("g").get_json()["status"] == "lost"


@pytest.mark.parametrize("customer,reason", [
    ({"email": "u@example.com", "email_consent": False}, "no_email_consent"),
    ({"phone": "+442079460000", "external_id": "x"}, "no_email"),
])
def test_email_policy_skips_with_a_reason(shop, app, customer, reason):
    shop.put_cart("c", cart_body(customer=customer))
    at(app, timedelta(minutes=30))
    assert [m.skip_reason for m in messages(app, channel="email", status="skipped")] == [reason]


def test_unsubscribed_and_suppressed_are_skipped(shop, app):
    shop.put_cart("u", email_only())
    with app.app_context():
        db.session.query(Customer).update({"unsubscribed_at": T0})
        db.session.commit()
    at(app, timedelta(minutes=30))
    assert messages(app, channel="email")[0].skip_reason == "unsubscribed"


def test_paused_store_sends_nothing(shop, app):
    shop.put_cart("c", email_only())
    with app.app_context():
        db.session.get(Store, shop.store_id).paused = True
        db.session.commit()
    at(app, timedelta(minutes=30))
    assert messages(app, channel="email")[0].skip_reason == "store_paused"


def sms_customer(phone="+12125550123"):
    return {"email": "sam@example.com", "first_name": "Sam", "phone": phone, "sms_consent": True}


def test_sms_waits_for_quiet_hours_to_end_in_the_recipients_zone(shop, app):
    # T0 is 09:00 UTC = 04:00 in New York (the number's zone): the 30-minute SMS waits until 08:00 there.
    shop.put_cart("c", cart_body(customer=sms_customer()))
    at(app, timedelta(minutes=30))
    (sms,) = messages(app, channel="sms")
    assert sms.status == "scheduled"
    assert sms.due_at == T0 + timedelta(hours=4)  # 08:00 EST = 13:00 UTC
    assert len(sent(app, channel="email")) == 1  # email has no quiet hours
    at(app, timedelta(hours=3, minutes=59))
    assert sent(app, channel="sms") == []
    at(app, timedelta(hours=4))
    (sms,) = sent(app, channel="sms")
    assert sms.sent_at == T0 + timedelta(hours=4)
    assert sms.body_text.startswith("Acme Mugs: Hi Sam") and sms.body_text.endswith("Reply STOP to opt out")
    assert f"http://127.0.0.1:5000/r/{sms.link_code}" in sms.body_text


def test_sms_needs_consent_and_respects_opt_out(shop, app):
    shop.put_cart("a", cart_body(customer={**sms_customer(), "sms_consent": None}))
    at(app, timedelta(hours=5))
    assert messages(app, channel="sms")[0].skip_reason == "no_sms_consent"


def test_us_numbers_get_one_sms_per_cart_within_48_hours(shop, app):
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        update_step(store, 2, sms=True)
        update_step(store, 4, sms=True)
    shop.put_cart("c", cart_body(customer=sms_customer()))
    walk(app, timedelta(minutes=30), timedelta(hours=4), timedelta(hours=6), timedelta(days=2), timedelta(days=4))
    sms = messages(app, channel="sms")
    assert [(m.status, m.skip_reason) for m in sms] == [
        ("sent", None), ("skipped", "us_sms_limit"), ("skipped", "us_sms_window")]


def test_non_us_numbers_may_get_more_texts(make_store, app):
    shop = make_store(country="GB", timezone="Europe/London")
    with app.app_context():
        update_step(db.session.get(Store, shop.store_id), 2, sms=True)
    shop.put_cart("c", cart_body(customer=sms_customer(phone="07911 123456")))
    walk(app, timedelta(minutes=30), timedelta(hours=6))
    assert len(sent(app, channel="sms")) == 2


def test_frequency_cap_holds_across_carts_but_not_within_one(shop, app):
    shop.put_cart("first", email_only())
    clock.freeze(T0 + timedelta(hours=1))
    shop.put_cart("second", email_only())
    walk(app, timedelta(minutes=30), timedelta(hours=1, minutes=30))  # each cart's step 1
    first_cart_step1, second_cart_step1 = [m for m in messages(app, channel="email") if m.status != "scheduled"]
    assert first_cart_step1.status == "sent"
    assert (second_cart_step1.status, second_cart_step1.skip_reason) == ("skipped", "frequency_cap")
    at(app, timedelta(hours=6))
    assert len(sent(app)) == 2  # the first cart's own step 2 is not capped by its step 1


class SlowEmail(SandboxEmailProvider):
    """Still sending when the dispatcher prepares the next group of messages."""

    def send_email(self, email):
        time.sleep(0.3)
        return super().send_email(email)


@pytest.mark.parametrize("concurrency", [32, 1])
def test_frequency_cap_holds_between_messages_due_in_one_run(shop, app, concurrency):
    """Two carts of one shopper falling due together: the dispatcher decides both before either outcome is written,
    in one group of messages, or (one at a time) in two groups while the first send is still in flight."""
    app.config["DISPATCH_CONCURRENCY"] = concurrency
    shop.put_cart("first", email_only())
    shop.put_cart("second", email_only())
    clock.freeze(T0 + timedelta(minutes=30))
    with app.app_context():
        carts.sweep_abandoned()
    Dispatcher(app, Providers(SlowEmail(), SandboxSmsProvider())).run_due()
    step1 = [m for m in messages(app, channel="email") if m.status != "scheduled"]
    assert sorted((m.status, m.skip_reason) for m in step1) == [("sent", None), ("skipped", "frequency_cap")]


def test_us_sms_limit_holds_between_messages_due_in_one_run(shop, app):
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        update_step(store, 2, sms=True)
    shop.put_cart("c", cart_body(customer=sms_customer()))
    at(app, timedelta(hours=6))  # steps 1 and 2 are both due: the first text goes, the second is the one too many
    assert [(m.status, m.skip_reason) for m in messages(app, channel="sms")] == [
        ("sent", None), ("skipped", "us_sms_limit")]


def test_step_edits_keep_order_and_can_switch_steps_off(shop, app):
    from retainful.errors import FieldError

    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        with pytest.raises(FieldError):
            update_step(store, 2, delay=timedelta(days=3))  # would come after step 3 (2 days)
        update_step(store, 2, enabled=False)
        update_step(store, 1, delay=timedelta(hours=1))
    shop.put_cart("c", email_only())
    walk(app, timedelta(hours=1), *STEP_DELAYS)
    assert [m.sent_at - T0 for m in sent(app)] == [timedelta(hours=1)] + STEP_DELAYS[2:]


def test_test_sends_from_a_shoppers_carts_count_for_no_cap_limit_or_click(shop, app):
    """A test-send knows the cart it was rendered from (so erase and purge find it), yet it is not a message to the
    shopper: their caps, the US one-text rule and the cart's clicks ignore it."""
    shop.put_cart("old", cart_body(customer=sms_customer()))
    shop.delete_cart("old")
    shop.put_cart("c", cart_body(customer=sms_customer()))
    clock.freeze(T0 + timedelta(minutes=5))
    for channel, token, to in (("email", "old", "marketer@acme.example"), ("sms", "c", "+1 212 555 0100")):
        response = shop.client.post("/api/v1/templates/test-send", headers=shop.headers, json={
            "channel": channel, "template": "abandoned_cart/step1", "to": to, "cart_token": token})
        assert response.status_code == 200, response.get_json()
    (test_email, test_sms) = messages(app, kind="test")
    assert test_email.customer_id == test_sms.customer_id is not None and test_sms.cart_id is not None
    assert shop.client.get(f"/r/{test_sms.link_code}").headers["Location"] == "https://acme.example/"
    walk(app, timedelta(minutes=30), timedelta(hours=4))
    assert [(m.channel, m.status) for m in messages(app) if m.status != "scheduled"] == [
        ("email", "sent"), ("sms", "sent")]
    with app.app_context():
        assert db.session.scalar(sa.select(Cart.clicked_at).where(Cart.token == "c")) is None


def test_a_dead_workers_claim_is_sent_by_the_first_run_after_its_lease(make_store, app):
    """A worker SIGKILLed holding a claim leaves its message `sending`: runs leave it alone while the lease holds
    (the worker might be alive and sending it), and the first run after the lease sends it."""
    app.config["DISPATCH_LEASE_SECONDS"] = 90
    shop = make_store()
    with app.app_context():
        update_step(db.session.get(Store, shop.store_id), 1, sms=False)
    for n in range(3):
        shop.put_cart(f"c{n}", email_only(email=f"shopper{n}@example.com"))
    clock.freeze(T0 + timedelta(minutes=30))
    with app.app_context():
        carts.sweep_abandoned()
        _, [dead] = outbox.claim(1, timedelta(seconds=90))  # the claim of the worker that is then killed
    assert run_jobs(app) == {"sent": 2}
    clock.freeze(T0 + timedelta(minutes=31, seconds=29))
    assert run_jobs(app) == {} and [m.status for m in messages(app) if m.id == dead] == ["sending"]
    clock.freeze(T0 + timedelta(minutes=31, seconds=31))
    assert run_jobs(app) == {"sent": 1} and [m.status for m in messages(app) if m.id == dead] == ["sent"]
