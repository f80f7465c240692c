"""A shopper's STOP reply through Vonage's inbound SMS webhook: opted out, pending texts cancelled, email untouched."""
import time
from datetime import timedelta

from vonage_http_client import Auth

from retainful.extensions import db
from retainful.models import ConsentEvent, Customer
from tests.conftest import cart_body
from tests.test_recovery_sequence import at, messages

CUSTOMER = {"email": "sam@example.com", "first_name": "Sam", "phone": "+12125550123", "sms_consent": True}


def pending_sms_abandoned(app, shop):
    shop.put_cart("c", cart_body(customer=CUSTOMER))
    at(app, timedelta(minutes=30))  # 04:30 in New York: the SMS waits for 08:00
    assert [m.status for m in messages(app, channel="sms")] == ["scheduled"]


def test_stop_reply_opts_out_and_cancels_pending_sms(app, shop, client):
    pending_sms_abandoned(app, shop)
    response = client.post("/webhooks/vonage/inbound", data={
        "msisdn": "12125550123", "to": "14155550100", "text": "Stop", "keyword": "STOP", "messageId": "abc",
        "type": "text", "message-timestamp": "2026-03-02 09:31:00"})
    assert response.status_code == 200 and response.get_json() == {"opted_out": 1}
    assert [m.status for m in messages(app, channel="sms")] == ["cancelled"]
    assert {m.status for m in messages(app, channel="email")} == {"sent", "scheduled"}
    with app.app_context():
        customer = db.session.query(Customer).one()
        assert customer.sms_opted_out_at is not None and customer.sms_consent is False
        assert db.session.query(ConsentEvent).filter_by(channel="sms", granted=False, source="sms_stop").count() == 1


def test_other_texts_change_nothing_and_json_webhooks_work(app, shop, client):
    pending_sms_abandoned(app, shop)
    for text in ("stop by the shop tomorrow?", "Thanks!"):
        response = client.post("/webhooks/vonage/inbound", json={"msisdn": "12125550123", "text": text})
        assert response.get_json() == {"opted_out": 0}
    assert [m.status for m in messages(app, channel="sms")] == ["scheduled"]
    assert client.get("/webhooks/vonage/inbound?msisdn=12125550123&text=UNSUBSCRIBE").get_json() == {"opted_out": 1}


def test_signed_webhooks_are_checked_when_a_secret_is_set(app, shop, client):
    app.config["VONAGE_SIGNATURE_SECRET"] = "sig-secret"
    pending_sms_abandoned(app, shop)
    params = {"msisdn": "12125550123", "to": "14155550100", "text": "STOP", "api-key": "vk",
              "timestamp": str(int(time.time()))}
    assert client.post("/webhooks/vonage/inbound", data=params).status_code == 401  # unsigned
    forged = dict(params, sig="0" * 64)
    assert client.post("/webhooks/vonage/inbound", data=forged).status_code == 401
    signed = dict(params, sig=Auth(api_key="vk", signature_secret="sig-secret",
                                   signature_method="sha256").sign_params(dict(params)))
    response = client.post("/webhooks/vonage/inbound", data=signed)
    assert response.status_code == 200 and response.get_json() == {"opted_out": 1}


def test_bad_inbound_is_400_not_500(client, app):
    assert client.post("/webhooks/vonage/inbound", data={"text": "STOP"}).status_code == 400
    assert client.post("/webhooks/vonage/inbound", data={"msisdn": "abc", "text": "STOP"}).status_code == 400
