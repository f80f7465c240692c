"""The signed POST of each new inbound message to a store's ``conversation_webhook_url``: the exact signature and
headers a helpdesk checks, retries with backoff until a limit, the SSRF guard at save and send time, no duplicate
deliveries, and the shopper's words gone with their erasure. The helpdesk is a local receiver (tests/stubs.py)."""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from retainful import clock, conversations
from retainful.conversations import webhook
from retainful.customers.erasure import erase_customer
from retainful.extensions import db
from retainful.models import Customer, OutgoingWebhook, Store
from retainful.stores import settings
from tests.conftest import T0
from tests.stubs import ProviderStub


@pytest.fixture
def helpdesk():
    with ProviderStub() as stub:
        yield stub


def setup_store(app, make_store, url):
    app.config["ALLOW_PRIVATE_SHOP_URLS"] = True
    shop = make_store()
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        store.conversation_webhook_url = url
        customer = Customer(store_id=store.id, email="alice@example.com", phone="+12025550143", first_name="Alice")
        db.session.add(customer)
        db.session.commit()
        return shop, customer.id


def inbound(app, customer_id, text="Is there a code? shipping was $15", **kwargs):
    with app.app_context():
        message = conversations.receive(db.session.get(Customer, customer_id), "sms", text, **kwargs)
        return message.id if message else None


def deliver(app):
    with app.app_context():
        return webhook.deliver_due()


def deliveries(app):
    with app.app_context():
        return [(d.attempts, d.delivered_at, d.failed_at, d.last_status, d.next_attempt_at)
                for d in db.session.scalars(sa.select(OutgoingWebhook))]


def test_an_inbound_message_is_posted_signed_with_the_stores_webhook_secret(app, make_store, helpdesk):
    shop, customer_id = setup_store(app, make_store, helpdesk.base_url + "/helpdesk/retainful")
    helpdesk.queue.append((200, {}, b"ok"))
    message_id = inbound(app, customer_id, provider_message_id="vonage-1")
    assert deliver(app) == {"delivered": 1, "retrying": 0, "given_up": 0}
    got = helpdesk.last
    assert (got.method, got.path, got.headers["Content-Type"]) == ("POST", "/helpdesk/retainful", "application/json")
    expected = "sha256=" + hmac.new(shop.issued.webhook_secret.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Retainful-Signature"] == expected
    body = got.json
    assert got.headers["X-Retainful-Delivery"] == body["id"] and got.headers["X-Retainful-Event"] == "message.inbound"
    assert got.headers["X-Retainful-Timestamp"] == str(int(T0.timestamp()))
    assert body["sent_at"] == T0.replace(microsecond=0).isoformat() and body["attempt"] == 1
    assert body["store_id"] == shop.store_id and body["event"] == "message.inbound"
    data = body["data"]
    assert data["customer"]["email"] == "alice@example.com" and data["message"]["id"] == message_id
    assert (data["conversation"]["status"], data["conversation"]["suggested_reason"]) == ("open", "unexpected_fees")
    assert (data["message"]["direction"], data["message"]["channel"], data["message"]["text"]) == (
        "inbound", "sms", "Is there a code? shipping was $15")
    assert deliver(app) == {"delivered": 0, "retrying": 0, "given_up": 0}  # delivered once, never again
    assert len(helpdesk.requests) == 1


def test_a_provider_retry_of_the_same_message_is_delivered_once(app, make_store, helpdesk):
    _, customer_id = setup_store(app, make_store, helpdesk.base_url + "/hook")
    inbound(app, customer_id, provider_message_id="vonage-7")
    inbound(app, customer_id, provider_message_id="vonage-7")
    helpdesk.queue.append((204, {}, b""))
    assert deliver(app)["delivered"] == 1 and len(helpdesk.requests) == 1


def test_a_failure_is_retried_with_growing_jittered_waits_until_the_limit(app, make_store, helpdesk):
    _, customer_id = setup_store(app, make_store, helpdesk.base_url + "/hook")
    inbound(app, customer_id)
    waits = []
    for attempt in range(1, webhook.MAX_ATTEMPTS + 1):
        helpdesk.queue.append((500, {}, b"down"))
        outcome = deliver(app)
        [(attempts, delivered, failed, status, next_at)] = deliveries(app)
        assert attempts == attempt and delivered is None and status == "HTTP 500"
        if attempt < webhook.MAX_ATTEMPTS:
            assert outcome["retrying"] == 1 and failed is None
            waits.append(next_at - clock.now())
            assert deliver(app)["retrying"] == 0  # not due yet
            clock.advance(next_at - clock.now())
        else:
            assert outcome["given_up"] == 1 and failed is not None
    assert all(webhook.FIRST_RETRY / 2 <= w <= webhook.FIRST_RETRY for w in waits[:1])
    assert waits[3] > waits[0] * 2 and max(waits) <= webhook.LONGEST_RETRY
    bodies = [r.json for r in helpdesk.requests]
    assert len({b["id"] for b in bodies}) == 1 and [b["attempt"] for b in bodies] == list(range(1, 9))


def test_a_helpdesk_that_recovers_gets_the_delivery_on_the_next_attempt(app, make_store, helpdesk):
    _, customer_id = setup_store(app, make_store, helpdesk.base_url + "/hook")
    inbound(app, customer_id)
    helpdesk.queue.extend([(503, {}, b""), (200, {}, b"")])
    assert deliver(app)["retrying"] == 1
    clock.advance(webhook.FIRST_RETRY)
    assert deliver(app)["delivered"] == 1
    first, second = helpdesk.requests
    assert first.json["id"] == second.json["id"] and second.headers["X-Retainful-Signature"] != \
        first.headers["X-Retainful-Signature"]  # each attempt's body (attempt, sent_at) is signed afresh


def test_a_closed_port_is_retried_not_lost(app, make_store):
    stub = ProviderStub()
    url = stub.base_url + "/hook"
    stub.close()
    _, customer_id = setup_store(app, make_store, url)
    inbound(app, customer_id)
    assert deliver(app)["retrying"] == 1
    assert deliveries(app)[0][3] == "connection refused"


def test_without_a_url_nothing_is_queued(app, make_store, helpdesk):
    _, customer_id = setup_store(app, make_store, None)
    inbound(app, customer_id)
    assert deliveries(app) == [] and helpdesk.requests == []


def test_a_url_removed_after_queueing_gives_the_delivery_up(app, make_store, helpdesk):
    shop, customer_id = setup_store(app, make_store, helpdesk.base_url + "/hook")
    inbound(app, customer_id)
    with app.app_context():
        db.session.get(Store, shop.store_id).conversation_webhook_url = None
        db.session.commit()
    assert deliver(app)["given_up"] == 1 and helpdesk.requests == []


def test_a_private_address_is_refused_at_send_time_without_the_opt_in(app, make_store, helpdesk, shop_dns):
    _, customer_id = setup_store(app, make_store, "https://helpdesk.example/hook")
    shop_dns["helpdesk.example"] = ["10.0.0.7"]  # rebinding after the save
    app.config["ALLOW_PRIVATE_SHOP_URLS"] = False
    inbound(app, customer_id)
    assert deliver(app) == {"delivered": 0, "retrying": 1, "given_up": 0}
    assert deliveries(app)[0][3] == "refused: private address" and helpdesk.requests == []


@pytest.mark.parametrize("url", ["http://helpdesk.example/hook", "https://10.0.0.7/hook", "ftp://x.example/",
                                 "https://helpdesk.example/hook?token=1", "https://a b.example/", "x" * 600,
                                 "https://\x00.example/", 42, ["https://helpdesk.example/"], "https://[x/",
                                 "https://user:pw@helpdesk.example/", "https://helpdesk.example:99999/"])
def test_unsafe_webhook_urls_are_refused_when_saved(app, url):
    with app.app_context():
        assert set(settings.errors({"conversation_webhook_url": url})) == {"conversation_webhook_url"}


def test_a_public_https_url_is_accepted_and_empty_turns_the_webhook_off(app):
    with app.app_context():
        for url in ("https://helpdesk.example/hooks/retainful", "", None):
            assert settings.errors({"conversation_webhook_url": url}) == {}


def test_erasing_the_shopper_deletes_their_pending_deliveries(app, make_store, helpdesk):
    _, customer_id = setup_store(app, make_store, helpdesk.base_url + "/hook")
    inbound(app, customer_id)
    with app.app_context():
        erase_customer(db.session.get(Customer, customer_id))
    assert deliveries(app) == [] and deliver(app)["delivered"] == 0


def test_finished_deliveries_are_deleted_after_a_week(app, make_store, helpdesk):
    _, customer_id = setup_store(app, make_store, helpdesk.base_url + "/hook")
    inbound(app, customer_id)
    helpdesk.queue.append((200, {}, b""))
    deliver(app)
    clock.advance(webhook.KEEP - timedelta(minutes=1))
    deliver(app)
    assert len(deliveries(app)) == 1
    clock.advance(timedelta(minutes=2))
    deliver(app)
    assert deliveries(app) == []


def test_the_log_names_ids_and_statuses_not_the_shopper(app, make_store, helpdesk, caplog):
    _, customer_id = setup_store(app, make_store, helpdesk.base_url + "/hook")
    inbound(app, customer_id)
    helpdesk.queue.append((200, {}, b""))
    caplog.set_level("INFO")
    deliver(app)
    assert "conversation webhook" in caplog.text
    assert "alice" not in caplog.text.lower() and "2025550143" not in caplog.text and "shipping" not in caplog.text


def test_the_body_is_json_as_documented(app, make_store, helpdesk):
    _, customer_id = setup_store(app, make_store, helpdesk.base_url + "/hook")
    inbound(app, customer_id, text="Straße 😀 \u2028 \"quoted\"")
    helpdesk.queue.append((200, {}, b""))
    deliver(app)
    assert json.loads(helpdesk.last.body)["data"]["message"]["text"] == "Straße 😀 \u2028 \"quoted\""


def test_with_the_opt_in_a_local_http_receiver_can_be_saved(app, helpdesk):
    app.config["ALLOW_PRIVATE_SHOP_URLS"] = True
    with app.app_context():
        assert settings.errors({"conversation_webhook_url": helpdesk.base_url + "/hook"}) == {}
    app.config["ALLOW_PRIVATE_SHOP_URLS"] = False
    with app.app_context():
        assert "conversation_webhook_url" in settings.errors({"conversation_webhook_url": helpdesk.base_url})


def test_a_claimed_delivery_is_not_claimed_again_until_its_lease_runs_out(app, make_store, helpdesk):
    _, customer_id = setup_store(app, make_store, helpdesk.base_url + "/hook")
    inbound(app, customer_id)
    with app.app_context():
        assert len(webhook._claim()) == 1  # a worker that then died before posting
        assert webhook._claim() == []
    helpdesk.queue.append((200, {}, b""))
    assert deliver(app)["delivered"] == 0
    clock.advance(webhook.LEASE)
    assert deliver(app)["delivered"] == 1 and helpdesk.last.json["attempt"] == 2
