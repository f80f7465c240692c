"""A shopper's STOP reply through Vonage's inbound SMS webhook: opted out, pending texts cancelled, email untouched;
and nothing unauthenticated is believed (a forged STOP would be recorded as the shopper's own consent change)."""
import hashlib
from datetime import timedelta

import pytest
from vonage_http_client import Auth

from retainful import clock, config
from retainful.extensions import db
from retainful.messaging.webhooks import vonage
from retainful.models import ConsentEvent, Customer, Store
from tests.conftest import cart_body
from tests.test_recovery_sequence import at, messages

CUSTOMER = {"email": "sam@example.com", "first_name": "Sam", "phone": "+12125550123", "sms_consent": True}
SECRET, STORE_NUMBER = "sig-secret", "14155550100"
URL = "/webhooks/vonage/inbound"
TOKEN = "q8Zt0k3n-Vx2_rW9pLm4"


def pending_sms_abandoned(app, shop, sender=STORE_NUMBER):
    set_sender(app, shop.store_id, sender)
    shop.put_cart("c", cart_body(customer=CUSTOMER))
    at(app, timedelta(minutes=30))  # 04:30 in New York: the SMS waits for 08:00
    assert [m.status for m in messages(app, channel="sms")] == ["scheduled"]


def set_sender(app, store_id, sender):
    with app.app_context():
        db.session.get(Store, store_id).sms_sender = sender
        db.session.commit()


def inbound(text="STOP", **fields):
    """An inbound SMS as Vonage's SMS API sends it, with the timestamp a signed one carries."""
    return {"msisdn": "12125550123", "to": STORE_NUMBER, "text": text, "keyword": text.split()[0].upper(),
            "messageId": "0A0000001234567B", "type": "text", "message-timestamp": "2026-03-02 09:31:00",
            "api-key": "vk", "timestamp": str(int(clock.now().timestamp())), "nonce": "a3f9", **fields}


def signed(params, method="sha256", secret=SECRET):
    """Signed the way Vonage documents it, computed independently of the service's own code."""
    string = "".join(f"&{k}={v.replace('&', '_').replace('=', '_')}" for k, v in sorted(params.items()))
    if method == "md5hash":
        sig = hashlib.md5((string + secret).encode()).hexdigest()
    else:  # the SDK's signer is the reference for the HMACs (it has no md5hash)
        sig = Auth(api_key="vk", signature_secret=secret, signature_method=method).sign_params(dict(params))
    return {**params, "sig": sig.upper()}  # Vonage sends upper-case hex


def opted_out(app):
    with app.app_context():
        return {c.store_id: c.sms_opted_out_at is not None for c in db.session.query(Customer)}


@pytest.fixture
def signing(app):
    app.config["VONAGE_SIGNATURE_SECRET"] = SECRET


def test_stop_reply_opts_out_and_cancels_pending_sms(app, shop, client, signing):
    pending_sms_abandoned(app, shop)
    response = client.post(URL, data=signed(inbound("Stop")))
    assert response.status_code == 200 and response.get_json()["opted_out"] == 1
    assert [m.status for m in messages(app, channel="sms")] == ["cancelled"]
    assert {m.status for m in messages(app, channel="email")} == {"sent", "scheduled"}
    with app.app_context():
        customer = db.session.query(Customer).one()
        assert customer.sms_opted_out_at is not None and customer.sms_consent is False
        assert db.session.query(ConsentEvent).filter_by(channel="sms", granted=False, source="sms_stop").count() == 1


def test_other_texts_change_nothing_and_get_and_json_webhooks_work(app, shop, client, signing):
    pending_sms_abandoned(app, shop)
    for text in ("Thanks!", "Is the blue one back in stock?"):  # a conversation, no opt-out
        response = client.post(URL, json=signed(inbound(text, messageId=text)))
        assert response.get_json() == {"opted_out": 0, "recorded": 1}
    assert [m.status for m in messages(app, channel="sms")] == ["scheduled"]
    assert client.get(URL, query_string=signed(inbound("UNSUBSCRIBE"))).get_json()["opted_out"] == 1


def test_with_nothing_configured_every_request_is_refused(app, shop, client):
    """The audit's F2: an unsigned POST or an <img src> GET opted any number out of every store."""
    pending_sms_abandoned(app, shop)
    for response in (client.post(URL, data={"msisdn": "12125550123", "text": "STOP"}),
                     client.get(URL + "?msisdn=12125550123&text=stop"),
                     client.post(URL, json=signed(inbound())),
                     client.get(URL + "/anything?msisdn=12125550123&text=stop")):
        assert response.status_code == 401
        assert "not configured" in response.get_json()["error"]["message"]
    assert opted_out(app) == {shop.store_id: False}
    assert [m.status for m in messages(app, channel="sms")] == ["scheduled"]


@pytest.mark.parametrize("method", ["md5hash", "md5", "sha1", "sha256", "sha512"])
def test_every_signature_method_vonage_offers(app, shop, client, signing, method):
    app.config["VONAGE_SIGNATURE_METHOD"] = method
    pending_sms_abandoned(app, shop)
    other = "sha256" if method != "sha256" else "sha512"
    assert client.post(URL, data=signed(inbound(), method=other)).status_code == 401  # the dashboard's choice only
    assert client.post(URL, data=signed(inbound(), secret="guess")).status_code == 401
    response = client.post(URL, data=signed(inbound(), method=method))
    assert response.status_code == 200 and response.get_json()["opted_out"] == 1


def test_the_signature_covers_every_parameter_with_vonages_escaping(app, shop, client, signing):
    pending_sms_abandoned(app, shop)
    params = signed(inbound("STOP", data="a&b=c", concat="true"))
    assert client.post(URL, data={**params, "to": "14155550199"}).status_code == 401  # tampered
    assert client.post(URL, data={**params, "extra": "x"}).status_code == 401  # a parameter added
    lower = {**params, "sig": params["sig"].lower()}
    assert client.post(URL, data=lower).get_json()["opted_out"] == 1


@pytest.mark.parametrize("timestamp", ["", "soon", "1e9", "١٢٣٤", "9" * 40, "-5"])
def test_a_signature_needs_a_well_formed_timestamp(app, shop, client, signing, timestamp):
    pending_sms_abandoned(app, shop)
    response = client.post(URL, data=signed(inbound(timestamp=timestamp)))
    assert response.status_code == 401 and opted_out(app) == {shop.store_id: False}


def test_a_stale_or_future_signature_is_refused(app, shop, client, signing):
    pending_sms_abandoned(app, shop)
    captured = signed(inbound())
    clock.advance(timedelta(minutes=6))
    assert client.post(URL, data=captured).get_json()["error"]["message"] == "stale signature"
    early = signed(inbound(timestamp=str(int((clock.now() + timedelta(minutes=6)).timestamp()))))
    assert client.post(URL, data=early).status_code == 401
    assert opted_out(app) == {shop.store_id: False}


@pytest.mark.parametrize("sig", ["ä", "\u00e4" * 64, "0" * 64, ""])
def test_hostile_signatures_are_401_not_500(app, shop, client, signing, sig):
    """The audit's F12 row 18: ``sig=ä`` was a TypeError from hmac.compare_digest."""
    pending_sms_abandoned(app, shop)
    for response in (client.post(URL, data={**inbound(), "sig": sig}), client.post(URL, json={**inbound(), "sig": sig}),
                     client.get(URL, query_string={**inbound(), "sig": sig})):
        assert response.status_code == 401
    for lone_surrogate in ({**inbound("STOP \ud800"), "sig": "ab" * 32}, {**inbound(), "sig": "\ud800"}):
        assert client.post(URL, json=lone_surrogate).status_code == 401


def test_hostile_bodies_are_4xx(app, shop, client, signing):
    pending_sms_abandoned(app, shop)
    assert client.post(URL, data=signed(inbound(data="x" * 300_000))).status_code == 413
    assert client.post(URL, data=b"{not json", content_type="application/json").status_code == 401
    assert client.post(URL, json=["STOP"]).status_code == 401
    assert opted_out(app) == {shop.store_id: False}
    nul = client.post(URL, json=signed(inbound("STOP\u0000")))
    assert nul.status_code == 200 and nul.get_json()["opted_out"] == 1  # a control character is punctuation


def test_the_secret_path_token_for_unsigned_accounts(app, shop, client):
    app.config["VONAGE_INBOUND_TOKEN"] = TOKEN
    pending_sms_abandoned(app, shop)
    unsigned = {"msisdn": "12125550123", "to": STORE_NUMBER, "text": "STOP"}
    assert client.post(URL, data=unsigned).status_code == 401  # the plain path refuses once a token is set
    for wrong in (TOKEN[:-1], TOKEN + "x", TOKEN.upper(), "ä", "%00", TOKEN + "%00"):
        assert client.post(f"{URL}/{wrong}", data=unsigned).status_code == 401
    assert opted_out(app) == {shop.store_id: False}
    assert client.get(f"{URL}/{TOKEN}", query_string=unsigned).get_json()["opted_out"] == 1


def test_with_both_configured_both_must_hold(app, shop, client, signing):
    app.config["VONAGE_INBOUND_TOKEN"] = TOKEN
    pending_sms_abandoned(app, shop)
    assert client.post(URL, data=signed(inbound())).status_code == 401
    assert client.post(f"{URL}/{TOKEN}", data=inbound()).status_code == 401  # unsigned
    assert client.post(f"{URL}/{TOKEN}", data=signed(inbound())).get_json()["opted_out"] == 1


def test_a_stop_affects_only_the_store_texting_from_that_number(app, shop, make_store, client, signing):
    other = make_store(name="Other", domain="other.example", country="US", timezone="America/New_York")
    set_sender(app, other.store_id, "+14155550199")
    set_sender(app, shop.store_id, "4155550100")  # a national number, read in the store's country
    shop.put_cart("c", cart_body(customer=CUSTOMER))
    other.put_cart("o", cart_body(customer=CUSTOMER, recovery_url="https://other.example/cart"))
    assert client.post(URL, data=signed(inbound(to="14155550111"))).get_json()["opted_out"] == 0
    assert client.post(URL, data=signed(inbound(to=""))).get_json()["opted_out"] == 0
    assert opted_out(app) == {shop.store_id: False, other.store_id: False}  # an unknown number: nobody
    assert client.post(URL, data=signed(inbound())).get_json()["opted_out"] == 1
    assert opted_out(app) == {shop.store_id: True, other.store_id: False}
    assert client.post(URL, data=signed(inbound(to="+1 415 555 0199"))).get_json()["opted_out"] == 1
    assert opted_out(app) == {shop.store_id: True, other.store_id: True}


def test_bad_inbound_is_400_not_500(client, app, signing):
    for params in ({"text": "STOP"}, {"msisdn": "abc", "text": "STOP"}, {"msisdn": "1\x002125550123", "text": "STOP"},
                   {"msisdn": "12125550123"}):
        response = client.post(URL, data=signed({**params, "timestamp": str(int(clock.now().timestamp()))}))
        assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_inbound"


def test_the_signature_method_setting(monkeypatch, tmp_path):
    assert config.load(str(tmp_path))["VONAGE_SIGNATURE_METHOD"] == "sha256"
    monkeypatch.setenv("VONAGE_SIGNATURE_METHOD", "MD5HASH")
    assert config.load(str(tmp_path))["VONAGE_SIGNATURE_METHOD"] == "md5hash"
    monkeypatch.setenv("VONAGE_SIGNATURE_METHOD", "sha384")
    with pytest.raises(config.ConfigError, match="VONAGE_SIGNATURE_METHOD"):
        config.load(str(tmp_path))


@pytest.mark.parametrize("token", ["short", "a/b" * 8, "ä" * 16, "x" * 201])
def test_a_guessable_or_unroutable_path_token_is_refused_at_start(monkeypatch, tmp_path, token):
    monkeypatch.setenv("VONAGE_INBOUND_TOKEN", token)
    with pytest.raises(config.ConfigError, match="VONAGE_INBOUND_TOKEN"):
        config.load(str(tmp_path))


def test_signature_matches_the_sdk_for_each_hmac():
    params = {"msisdn": "447700900001", "text": "a&b=c", "timestamp": "1461605396"}
    for method in ("md5", "sha1", "sha256", "sha512"):
        expected = Auth(api_key="k", signature_secret=SECRET, signature_method=method).sign_params(dict(params))
        assert vonage.signature({**params, "sig": "x"}, SECRET, method) == expected
    assert vonage.signature(params, SECRET, "md5hash") == hashlib.md5(
        ("&msisdn=447700900001&text=a_b_c&timestamp=1461605396" + SECRET).encode()).hexdigest()
