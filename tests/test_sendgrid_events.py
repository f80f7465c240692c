"""SendGrid's signed Event Webhook: deliveries, opens and clicks stamped; bounces suppress the address; spam reports
unsubscribe; nothing unsigned is believed."""
import base64
import json
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from retainful import clock, config
from retainful.extensions import db
from retainful.messaging.webhooks import sendgrid
from retainful.models import Cart, Customer, Message
from tests.conftest import T0, cart_body
from tests.test_recovery_sequence import at, messages, walk

URL = "/webhooks/sendgrid/events"
# The known-good vector of the SDK's own tests (sendgrid-python test/unit/test_eventwebhook.py): the trailing CRLF
# is part of the signed body, which is why the raw bytes are verified.
SDK_PUBLIC_KEY = ("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINX"
                  "vVpiglSI8eNEc6wEA3F+g==")
SDK_SIGNATURE = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="
SDK_TIMESTAMP = "1600112502"
SDK_BODY = json.dumps([{
    "email": "hello@world.com", "event": "dropped", "reason": "Bounced Address",
    "sg_event_id": "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
    "sg_message_id": "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
    "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>", "timestamp": 1600112492,
}], sort_keys=True, separators=(",", ":")) + "\r\n"

ALICE = {"email": "alice@example.com", "first_name": "Alice"}


@pytest.fixture
def signing_key(app):
    """A key pair like the one SendGrid generates; the app knows the public half."""
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    app.config["SENDGRID_WEBHOOK_PUBLIC_KEY"] = base64.b64encode(der).decode()
    return key


def post_events(client, key, events, timestamp=None):
    """A batch signed as SendGrid signs it, at the current time unless ``timestamp`` (the header) is given."""
    timestamp = str(int(clock.now().timestamp())) if timestamp is None else timestamp
    body = (json.dumps(events) + "\r\n").encode()
    signature = base64.b64encode(key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    return client.post(URL, data=body, content_type="application/json", headers={
        sendgrid.SIGNATURE_HEADER: signature, sendgrid.TIMESTAMP_HEADER: timestamp})


def sent_email(app, shop, token="c", customer=ALICE):
    shop.put_cart(token, cart_body(customer=customer))
    at(app, timedelta(minutes=30))
    [message] = [m for m in messages(app, channel="email") if m.status == "sent"]
    clock.freeze(T0 + timedelta(hours=1))  # the events below happened before now (a time in the future is clamped)
    return message


def event(message, kind, minutes=35, **fields):
    """One event as SendGrid posts it: our custom arg merged at the top level."""
    return {"email": message.recipient, "event": kind, "timestamp": int((T0 + timedelta(minutes=minutes)).timestamp()),
            "sg_event_id": f"evt-{kind}-{minutes}", "sg_message_id": "LRzXl_NHStOGhQ4kofSm_A.filter0001.1.0",
            "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>", "category": ["abandoned_cart"],
            "message_id": str(message.id), **fields}


def reload(app, model, id_):
    with app.app_context():
        row = db.session.get(model, id_)
        db.session.expunge_all()
        return row


def test_the_sdk_vector_verifies_and_any_change_does_not():
    clock.freeze(datetime.fromtimestamp(int(SDK_TIMESTAMP) + 30, timezone.utc))
    sendgrid.verify(SDK_BODY.encode(), SDK_SIGNATURE, SDK_TIMESTAMP, SDK_PUBLIC_KEY, 600)
    for body, signature, timestamp in ((SDK_BODY.rstrip().encode(), SDK_SIGNATURE, SDK_TIMESTAMP),
                                       (SDK_BODY.encode(), SDK_SIGNATURE, "1600112503"),
                                       (SDK_BODY.encode(), "not base64!", SDK_TIMESTAMP),
                                       (b"\xff\xfe", SDK_SIGNATURE, SDK_TIMESTAMP)):
        with pytest.raises(sendgrid.InvalidEvents):
            sendgrid.verify(body, signature, timestamp, SDK_PUBLIC_KEY, 600)
    clock.advance(timedelta(minutes=10))  # now 630 s after the signed time: a replay
    with pytest.raises(sendgrid.InvalidEvents, match="stale"):
        sendgrid.verify(SDK_BODY.encode(), SDK_SIGNATURE, SDK_TIMESTAMP, SDK_PUBLIC_KEY, 600)


@pytest.mark.parametrize("timestamp", ["1262304000", "not-a-time", "", "1e9", "-1", "١٧٧٢٤٤٥٦٠٠", "9" * 30])
def test_an_old_or_malformed_timestamp_is_401_and_changes_nothing(app, shop, client, signing_key, timestamp):
    """The audit's F10: a batch signed in 2010, or with a timestamp that is no time, was applied."""
    message = sent_email(app, shop)
    response = post_events(client, signing_key, [event(message, "spamreport")], timestamp=timestamp)
    assert response.status_code == 401
    with app.app_context():
        assert db.session.query(Customer).one().unsubscribed_at is None


def test_the_freshness_window_is_the_setting_either_way(app, shop, client, signing_key):
    message = sent_email(app, shop)
    now = int(clock.now().timestamp())
    app.config["SENDGRID_WEBHOOK_MAX_AGE_SECONDS"] = 60
    for timestamp in (now - 61, now + 61):
        assert post_events(client, signing_key, [event(message, "open")], str(timestamp)).status_code == 401
    assert post_events(client, signing_key, [event(message, "open")], str(now - 60)).get_json() == {
        "applied": {"open": 1}}


def test_the_max_age_setting_defaults_to_ten_minutes(monkeypatch, tmp_path):
    assert config.load(str(tmp_path))["SENDGRID_WEBHOOK_MAX_AGE_SECONDS"] == 600
    monkeypatch.setenv("SENDGRID_WEBHOOK_MAX_AGE_SECONDS", "120")
    assert config.load(str(tmp_path))["SENDGRID_WEBHOOK_MAX_AGE_SECONDS"] == 120


@pytest.mark.parametrize("message_id", ["99999999999999999999999", "2147483648", "-1", "0", "1e3", None, [], "\x00"])
def test_a_message_id_that_names_no_message_is_ignored_not_500(app, shop, client, signing_key, message_id):
    """The audit's F12 row 17: an id beyond the database's integer was an OverflowError (500)."""
    message = sent_email(app, shop)
    response = post_events(client, signing_key, [event(message, "bounce", type="bounce", message_id=message_id),
                                                 event(message, "open")])
    assert response.status_code == 200 and response.get_json() == {"applied": {"ignored": 1, "open": 1}}
    with app.app_context():
        assert db.session.query(Customer).one().email_suppressed_at is None


def test_deliveries_opens_and_clicks_are_stamped_once(app, shop, client, signing_key):
    message = sent_email(app, shop)
    events = [event(message, "processed", 30), event(message, "delivered", 31),
              event(message, "open", 32, sg_machine_open=True), event(message, "open", 40),
              event(message, "click", 41, url="https://r.example/r/x"), event(message, "open", 50)]
    response = post_events(client, signing_key, events)
    assert response.status_code == 200
    assert response.get_json() == {"applied": {"delivered": 1, "open": 2, "click": 1, "ignored": 2}}
    stamped = reload(app, Message, message.id)
    assert stamped.delivered_at == T0 + timedelta(minutes=31)
    assert stamped.opened_at == T0 + timedelta(minutes=40)  # the proxy's machine open does not count
    assert stamped.clicked_at == T0 + timedelta(minutes=41)
    cart = reload(app, Cart, message.cart_id)  # the reports count clicked carts from the cart
    assert (cart.messaged_at, cart.clicked_at) == (T0 + timedelta(minutes=30), T0 + timedelta(minutes=41))
    assert post_events(client, signing_key, events).status_code == 200  # SendGrid redelivers: nothing moves
    assert reload(app, Message, message.id).opened_at == T0 + timedelta(minutes=40)


def test_a_hard_bounce_suppresses_the_address_everywhere_and_stops_its_email(app, shop, make_store, client,
                                                                            signing_key):
    message = sent_email(app, shop)
    other_shop = make_store(name="Other", domain="other.example")
    reported = other_shop.put_cart("o", cart_body(customer={"email": "Alice@Example.com"},
                                                  recovery_url="https://other.example/cart"))
    assert reported.status_code == 201
    response = post_events(client, signing_key, [event(message, "bounce", reason="550 5.1.1 no such user",
                                                       type="bounce", status="5.1.1")])
    assert response.get_json() == {"applied": {"bounce": 1}}
    bounced = reload(app, Message, message.id)
    assert bounced.bounced_at == T0 + timedelta(minutes=35) and "no such user" in bounced.error
    with app.app_context():
        assert {(c.email_suppressed_at, c.email_suppression_reason) for c in db.session.query(Customer)} == {
            (T0 + timedelta(minutes=35), "hard bounce")}
    assert {m.status for m in messages(app, channel="email", cart_id=message.cart_id)} == {"sent", "cancelled"}
    walk(app, timedelta(hours=3), timedelta(hours=4))  # the other store's cart is abandoned: its email is skipped
    other = [m for m in messages(app, channel="email") if m.cart_id != message.cart_id and m.status != "scheduled"]
    assert [(m.status, m.skip_reason) for m in other] == [("skipped", "suppressed")]


def test_blocked_is_not_a_dead_address_but_a_bounced_drop_is(app, shop, client, signing_key):
    message = sent_email(app, shop)
    post_events(client, signing_key, [event(message, "bounce", reason="blocked by policy", type="blocked")])
    with app.app_context():
        assert db.session.query(Customer).one().email_suppressed_at is None
    post_events(client, signing_key, [event(message, "dropped", 36, reason="Bounced Address")])
    with app.app_context():
        assert db.session.query(Customer).one().email_suppressed_at == T0 + timedelta(minutes=36)
    assert reload(app, Message, message.id).error == "dropped by SendGrid: Bounced Address"


def test_a_spam_report_unsubscribes_from_that_store(app, shop, client, signing_key):
    message = sent_email(app, shop)
    assert post_events(client, signing_key, [event(message, "spamreport")]).get_json() == {
        "applied": {"spamreport": 1}}
    with app.app_context():
        customer = db.session.query(Customer).one()
        assert customer.unsubscribed_at is not None and customer.email_consent is False
        assert customer.email_suppressed_at is None  # the address works; the shopper does not want this store
    assert {m.status for m in messages(app, channel="email", cart_id=message.cart_id)} == {"sent", "cancelled"}


def test_forged_or_foreign_events_change_nothing(app, shop, client, signing_key):
    message = sent_email(app, shop)
    bounce = event(message, "bounce", type="bounce")
    assert client.post(URL, json=[bounce]).status_code == 401  # unsigned
    other_key = ec.generate_private_key(ec.SECP256R1())
    assert post_events(client, other_key, [bounce]).status_code == 401  # signed by someone else
    wrong_address = {**bounce, "email": "mallory@example.com"}
    unknown_message = {**bounce, "message_id": "999999"}
    no_custom_arg = {key: value for key, value in bounce.items() if key != "message_id"}
    response = post_events(client, signing_key, [wrong_address, unknown_message, no_custom_arg, "junk", 42])
    assert response.get_json() == {"applied": {"ignored": 2}}  # the last three are not events about our messages
    with app.app_context():
        assert db.session.query(Customer).one().email_suppressed_at is None
    assert reload(app, Message, message.id).bounced_at is None
    assert post_events(client, signing_key, {"not": "a list"}).status_code == 400
    app.config["SENDGRID_WEBHOOK_PUBLIC_KEY"] = ""
    refused = post_events(client, signing_key, [bounce])
    assert refused.status_code == 401 and "not configured" in refused.get_json()["error"]["message"]


def test_an_unsubscribe_is_applied_once_per_sg_event_id(app, shop, client, signing_key):
    """Within the freshness window a captured batch could still be replayed: it must not unsubscribe again a shopper
    who re-consented meanwhile."""
    message = sent_email(app, shop)
    report = event(message, "spamreport")
    assert post_events(client, signing_key, [report, report]).get_json() == {"applied": {"spamreport": 1, "ignored": 1}}
    with app.app_context():
        customer = db.session.query(Customer).one()
        customer.unsubscribed_at = None  # the shopper subscribed again
        db.session.commit()
    clock.advance(timedelta(minutes=5))
    assert post_events(client, signing_key, [report]).get_json() == {"applied": {"ignored": 1}}
    with app.app_context():
        assert db.session.query(Customer).one().unsubscribed_at is None
    again = event(message, "spamreport", 60)  # a new report: its own sg_event_id
    assert post_events(client, signing_key, [again]).get_json() == {"applied": {"spamreport": 1}}
    no_id = {key: value for key, value in report.items() if key != "sg_event_id"}
    assert post_events(client, signing_key, [no_id]).get_json() == {"applied": {"spamreport": 1}}
