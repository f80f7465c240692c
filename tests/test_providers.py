"""The providers drive the real SendGrid and Vonage SDKs over real HTTP(S) to local stubs; the assertions are on
what arrived at the stub and on how each answer is classified. No database involved."""
from __future__ import annotations

import base64
import json
import logging
from concurrent.futures import ThreadPoolExecutor

import pytest

from retainful.messaging.providers import (OutgoingEmail, OutgoingSms, ProviderConfigError, ProviderError,
                                           SandboxEmailProvider, SandboxSmsProvider, check_providers,
                                           email_provider, sms_provider)
from retainful.messaging.providers.sendgrid import SendGridProvider
from retainful.messaging.providers.vonage import VonageProvider
from retainful.messaging.sms_encoding import is_gsm7
from tests.provider_fixtures import sendgrid_stub, vonage_stub  # noqa: F401
from tests.stubs import ProviderStub

SG_KEY = "SG.test-key.not-real"
SENDER_ERROR = {"errors": [{"message": "The from address does not match a verified Sender Identity.",
                            "field": "from", "help": None}]}


def email(**overrides) -> OutgoingEmail:
    fields = dict(message_id=42, to_email="alice@example.com", to_name="Alice Doe",
                  from_email="shop@acme.example", from_name="Acme Mugs", subject="You left something behind",
                  html="<p>Your <b>red mug</b> is waiting.</p>", text="Your red mug is waiting.",
                  unsubscribe_url="https://retainful.example/u/tok123", categories=("cart-recovery", "step-1"))
    fields.update(overrides)
    return OutgoingEmail(**fields)


def sms(**overrides) -> OutgoingSms:
    fields = dict(message_id=77, to="+14155550100", sender="ACME", text="Your cart is waiting: https://acme.example/c")
    fields.update(overrides)
    return OutgoingSms(**fields)


@pytest.fixture
def sendgrid(sendgrid_stub):  # noqa: F811
    return SendGridProvider(api_key=SG_KEY, host=sendgrid_stub.base_url, timeout=5)


@pytest.fixture
def vonage(vonage_stub):  # noqa: F811
    return VonageProvider(api_key="vkey", api_secret="vsecret", rest_host=vonage_stub.host_port, timeout=5)


def vonage_answer(*messages, count=None):
    return 200, {"Content-Type": "application/json"}, json.dumps(
        {"message-count": str(count or len(messages)), "messages": list(messages)}).encode()


# SendGrid -------------------------------------------------------------------------------------------------------

def test_sendgrid_sends_the_full_message_and_returns_x_message_id(sendgrid, sendgrid_stub):  # noqa: F811
    result = sendgrid.send_email(email(unsubscribe_mailto="unsubscribe@retainful.example?subject=tok123"))

    [request] = sendgrid_stub.requests
    assert (request.method, request.path) == ("POST", "/v3/mail/send")
    assert request.headers["Authorization"] == f"Bearer {SG_KEY}"
    assert request.headers["Content-Type"] == "application/json"
    body = request.json
    assert body["from"] == {"email": "shop@acme.example", "name": "Acme Mugs"}
    assert body["personalizations"] == [{"to": [{"email": "alice@example.com", "name": "Alice Doe"}]}]
    assert body["subject"] == "You left something behind"
    assert body["content"] == [{"type": "text/plain", "value": "Your red mug is waiting."},
                               {"type": "text/html", "value": "<p>Your <b>red mug</b> is waiting.</p>"}]
    assert body["headers"] == {
        "List-Unsubscribe":
            "<https://retainful.example/u/tok123>, <mailto:unsubscribe@retainful.example?subject=tok123>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    assert body["custom_args"] == {"message_id": "42"}
    assert body["categories"] == ["cart-recovery", "step-1"]
    assert result.provider_message_id == request.response_headers["X-Message-Id"]
    assert result.provider_message_id.startswith("sg-stub-")


def test_sendgrid_without_mailto_or_name_or_categories(sendgrid, sendgrid_stub):  # noqa: F811
    sendgrid.send_email(email(to_name=None, categories=()))
    body = sendgrid_stub.last.json
    assert body["headers"]["List-Unsubscribe"] == "<https://retainful.example/u/tok123>"
    assert body["personalizations"] == [{"to": [{"email": "alice@example.com"}]}]
    assert "categories" not in body


@pytest.mark.parametrize("status", [500, 502, 503])
def test_sendgrid_5xx_is_transient(sendgrid, sendgrid_stub, status):  # noqa: F811
    sendgrid_stub.queue.append((status, {}, b""))
    with pytest.raises(ProviderError) as caught:
        sendgrid.send_email(email())
    assert caught.value.transient and caught.value.status == status and str(status) in caught.value.reason


def test_sendgrid_429_is_transient_with_retry_after(sendgrid, sendgrid_stub):  # noqa: F811
    sendgrid_stub.queue.append((429, {"Retry-After": "7", "Content-Type": "application/json"},
                                b'{"errors":[{"message":"too many requests"}]}'))
    with pytest.raises(ProviderError) as caught:
        sendgrid.send_email(email())
    error = caught.value
    assert error.transient and error.retry_after == 7 and error.status == 429
    assert "429" in error.reason and "too many requests" in error.reason


def test_sendgrid_400_is_permanent_with_the_providers_message(sendgrid, sendgrid_stub):  # noqa: F811
    sendgrid_stub.queue.append((400, {"Content-Type": "application/json"}, json.dumps(SENDER_ERROR).encode()))
    with pytest.raises(ProviderError) as caught:
        sendgrid.send_email(email())
    error = caught.value
    assert not error.transient and error.status == 400 and error.retry_after is None
    assert "400" in error.reason
    assert "The from address does not match a verified Sender Identity." in error.reason


@pytest.mark.parametrize("status", [401, 403, 413])
def test_sendgrid_other_4xx_are_permanent(sendgrid, sendgrid_stub, status):  # noqa: F811
    sendgrid_stub.queue.append((status, {}, b"nope"))
    with pytest.raises(ProviderError) as caught:
        sendgrid.send_email(email())
    assert not caught.value.transient and caught.value.status == status and "nope" in caught.value.reason


def test_sendgrid_connection_refused_is_transient():
    stub = ProviderStub().start()
    provider = SendGridProvider(api_key=SG_KEY, host=stub.base_url, timeout=5)
    stub.close()
    with pytest.raises(ProviderError) as caught:
        provider.send_email(email())
    assert caught.value.transient and "unreachable" in caught.value.reason


def test_sendgrid_timeout_is_transient():
    with ProviderStub(delay=1.0) as stub:
        provider = SendGridProvider(api_key=SG_KEY, host=stub.base_url, timeout=0.2)
        with pytest.raises(ProviderError) as caught:
            provider.send_email(email())
    assert caught.value.transient


def test_sendgrid_helper_validation_becomes_a_permanent_error(sendgrid, sendgrid_stub):  # noqa: F811
    # The SDK refuses content that looks like an API key; that must not escape as an SDK exception.
    with pytest.raises(ProviderError) as caught:
        sendgrid.send_email(email(text="SG.abc123.def456"))
    assert not caught.value.transient and sendgrid_stub.requests == []


# Vonage ---------------------------------------------------------------------------------------------------------

def test_vonage_sends_form_fields_with_basic_auth(vonage, vonage_stub):  # noqa: F811
    result = vonage.send_sms(sms())

    [request] = vonage_stub.requests
    assert (request.method, request.path) == ("POST", "/sms/json")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    # SDK 4.x authenticates the SMS API with a Basic header, not api_key/api_secret form fields.
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"vkey:vsecret").decode()
    assert request.form == {"to": "14155550100", "from": "ACME",
                            "text": "Your cart is waiting: https://acme.example/c", "client-ref": "77"}
    assert result.provider_message_id == json.loads(request.response_body)["messages"][0]["message-id"]


@pytest.mark.parametrize("text", ["Prix: 10€ {promo} [x] ~Ça~ | ^ \\ ß", "ok\nnext line"])
def test_vonage_gsm7_text_is_sent_as_text(vonage, vonage_stub, text):  # noqa: F811
    vonage.send_sms(sms(text=text))
    assert "type" not in vonage_stub.last.form and vonage_stub.last.form["text"] == text


@pytest.mark.parametrize("text", ["Your cart 🛒 is waiting", "“Smart” quotes", "back`tick", "Привет", "wait…"])
def test_vonage_non_gsm7_text_is_sent_as_unicode(vonage, vonage_stub, text):  # noqa: F811
    vonage.send_sms(sms(text=text))
    assert vonage_stub.last.form["type"] == "unicode" and vonage_stub.last.form["text"] == text


def test_vonage_returns_the_first_parts_message_id(vonage, vonage_stub):  # noqa: F811
    part = {"to": "14155550100", "status": "0", "remaining-balance": "9.9", "message-price": "0.03", "network": "1"}
    vonage_stub.queue.append(vonage_answer({**part, "message-id": "part-1"}, {**part, "message-id": "part-2"}))
    assert vonage.send_sms(sms(text="x" * 200)).provider_message_id == "part-1"


def test_vonage_throttled_status_is_transient(vonage, vonage_stub):  # noqa: F811
    vonage_stub.queue.append(vonage_answer({"status": "1", "error-text": "Throttled"}))
    with pytest.raises(ProviderError) as caught:
        vonage.send_sms(sms())
    assert caught.value.transient and "Throttled" in caught.value.reason and "1" in caught.value.reason


@pytest.mark.parametrize("status,text", [("2", "Missing to param"), ("4", "Bad Credentials"),
                                         ("29", "Non White-listed Destination")])
def test_vonage_other_statuses_are_permanent(vonage, vonage_stub, status, text):  # noqa: F811
    vonage_stub.queue.append(vonage_answer({"status": status, "error-text": text}))
    with pytest.raises(ProviderError) as caught:
        vonage.send_sms(sms())
    assert not caught.value.transient
    assert caught.value.reason == f"Vonage status {status}: {text}"


def test_vonage_partial_failure_is_permanent(vonage, vonage_stub):  # noqa: F811
    sent = {"to": "14155550100", "message-id": "part-1", "status": "0", "remaining-balance": "9.9",
            "message-price": "0.03", "network": "1"}
    vonage_stub.queue.append(vonage_answer(sent, {"status": "1", "error-text": "Throttled"}))
    with pytest.raises(ProviderError) as caught:
        vonage.send_sms(sms(text="x" * 200))
    assert not caught.value.transient
    assert "1 of 2 parts sent" in caught.value.reason and "Throttled" in caught.value.reason


@pytest.mark.parametrize("status", [500, 502, 503])
def test_vonage_5xx_is_transient(vonage, vonage_stub, status):  # noqa: F811
    vonage_stub.queue.append((status, {}, b"upstream trouble"))
    with pytest.raises(ProviderError) as caught:
        vonage.send_sms(sms())
    assert caught.value.transient and caught.value.status == status and str(status) in caught.value.reason


def test_vonage_429_is_transient_with_retry_after(vonage, vonage_stub):  # noqa: F811
    vonage_stub.queue.append((429, {"Retry-After": "3"}, b""))
    with pytest.raises(ProviderError) as caught:
        vonage.send_sms(sms())
    assert caught.value.transient and caught.value.retry_after == 3 and caught.value.status == 429


@pytest.mark.parametrize("status", [401, 403, 422])
def test_vonage_4xx_is_permanent(vonage, vonage_stub, status):  # noqa: F811
    vonage_stub.queue.append((status, {"Content-Type": "application/json"}, b'{"title":"Unauthorized"}'))
    with pytest.raises(ProviderError) as caught:
        vonage.send_sms(sms())
    assert not caught.value.transient and caught.value.status == status and "Unauthorized" in caught.value.reason


def test_vonage_connection_refused_is_transient(vonage_stub):  # noqa: F811
    provider = VonageProvider(api_key="vkey", api_secret="vsecret", rest_host=vonage_stub.host_port, timeout=5)
    vonage_stub.close()
    with pytest.raises(ProviderError) as caught:
        provider.send_sms(sms())
    assert caught.value.transient and "unreachable" in caught.value.reason


def test_vonage_untrusted_certificate_is_transient(vonage, vonage_stub, monkeypatch):  # noqa: F811
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with pytest.raises(ProviderError) as caught:
        vonage.send_sms(sms())
    assert caught.value.transient and "SSLError" in caught.value.reason and vonage_stub.requests == []


def test_vonage_non_json_success_answer_is_a_permanent_error(vonage, vonage_stub):  # noqa: F811
    vonage_stub.queue.append((200, {"Content-Type": "text/html"}, b"<html>captive portal</html>"))
    with pytest.raises(ProviderError) as caught:
        vonage.send_sms(sms())
    assert not caught.value.transient


def test_vonage_invalid_message_is_a_permanent_error(vonage, vonage_stub):  # noqa: F811
    with pytest.raises(ProviderError) as caught:
        vonage.send_sms(sms(message_id=int("9" * 101)))  # client-ref over the SDK's 100 characters
    assert not caught.value.transient and vonage_stub.requests == []


def test_one_provider_serves_many_threads(sendgrid, sendgrid_stub, vonage, vonage_stub):  # noqa: F811
    # The dispatcher shares each provider across its thread pool; the SDK clients keep shared mutable state.
    with ThreadPoolExecutor(16) as pool:
        email_ids = list(pool.map(lambda i: sendgrid.send_email(email(message_id=i)).provider_message_id, range(64)))
        sms_ids = list(pool.map(lambda i: vonage.send_sms(sms(message_id=i)).provider_message_id, range(64)))
    assert len(set(email_ids)) == len(set(sms_ids)) == 64
    assert sorted(int(r.json["custom_args"]["message_id"]) for r in sendgrid_stub.requests) == list(range(64))
    assert sorted(int(r.form["client-ref"]) for r in vonage_stub.requests) == list(range(64))


def test_credentials_stay_out_of_debug_logs(sendgrid, sendgrid_stub, vonage, vonage_stub, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    sendgrid.send_email(email())
    vonage.send_sms(sms())
    vonage.send_sms(sms())  # the Vonage SDK logs the headers left over from the previous call
    assert SG_KEY not in caplog.text
    assert base64.b64encode(b"vkey:vsecret").decode() not in caplog.text and "vsecret" not in caplog.text


# GSM-7 ----------------------------------------------------------------------------------------------------------

def test_is_gsm7():
    assert is_gsm7("")
    assert is_gsm7("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ÄÖÑÜ§¿äöñüà")
    assert is_gsm7("\f^{}\\[~]|€")
    for text in ("`", "\t", "ç", "’", "–", "…", "\u00a0", "😀", "á", "ü\u0308"):
        assert not is_gsm7(text), repr(text)


# Factories and sandbox ------------------------------------------------------------------------------------------

def test_factories_default_to_the_sandbox():
    assert isinstance(email_provider({}), SandboxEmailProvider)
    assert isinstance(sms_provider({"SMS_PROVIDER": ""}), SandboxSmsProvider)
    email_sandbox, sms_sandbox = check_providers({"EMAIL_PROVIDER": "sandbox", "SMS_PROVIDER": "Sandbox"})
    assert email_sandbox.name == sms_sandbox.name == "sandbox"


def test_sandbox_sends_nothing_and_returns_a_sandbox_id():
    first = SandboxEmailProvider().send_email(email()).provider_message_id
    second = SandboxSmsProvider().send_sms(sms()).provider_message_id
    assert first.startswith("sandbox-") and len(first) == len("sandbox-") + 32
    assert second.startswith("sandbox-") and first != second


def test_missing_credentials_name_the_setting():
    with pytest.raises(ProviderConfigError, match="SENDGRID_API_KEY"):
        email_provider({"EMAIL_PROVIDER": "sendgrid", "SENDGRID_API_KEY": ""})
    with pytest.raises(ProviderConfigError, match="VONAGE_API_SECRET") as caught:
        sms_provider({"SMS_PROVIDER": "vonage", "VONAGE_API_KEY": "vkey"})
    assert "VONAGE_API_KEY" not in str(caught.value)
    with pytest.raises(ProviderConfigError, match="VONAGE_API_KEY and VONAGE_API_SECRET are not set"):
        sms_provider({"SMS_PROVIDER": "vonage"})


def test_unknown_provider_and_bad_settings_are_config_errors():
    with pytest.raises(ProviderConfigError, match="EMAIL_PROVIDER='mailgun'"):
        email_provider({"EMAIL_PROVIDER": "mailgun"})
    with pytest.raises(ProviderConfigError, match="SMS_PROVIDER='twilio'"):
        sms_provider({"SMS_PROVIDER": "twilio"})
    with pytest.raises(ProviderConfigError, match="SENDGRID_API_HOST"):
        email_provider({"EMAIL_PROVIDER": "sendgrid", "SENDGRID_API_KEY": SG_KEY, "SENDGRID_API_HOST": "api.x.com"})
    with pytest.raises(ProviderConfigError, match="VONAGE_REST_HOST"):
        sms_provider({"SMS_PROVIDER": "vonage", "VONAGE_API_KEY": "k", "VONAGE_API_SECRET": "s",
                      "VONAGE_REST_HOST": "http://rest.nexmo.com"})
    with pytest.raises(ProviderConfigError, match="PROVIDER_TIMEOUT_SECONDS"):
        email_provider({"EMAIL_PROVIDER": "sendgrid", "SENDGRID_API_KEY": SG_KEY, "PROVIDER_TIMEOUT_SECONDS": 0})


def test_check_providers_reports_every_problem_at_once():
    with pytest.raises(ProviderConfigError) as caught:
        check_providers({"EMAIL_PROVIDER": "sendgrid", "SMS_PROVIDER": "vonage", "VONAGE_API_KEY": "k"})
    assert "SENDGRID_API_KEY" in str(caught.value) and "VONAGE_API_SECRET" in str(caught.value)


def test_factories_build_working_providers_from_app_config(sendgrid_stub, vonage_stub):  # noqa: F811
    config = {"EMAIL_PROVIDER": "sendgrid", "SENDGRID_API_KEY": SG_KEY,
              "SENDGRID_API_HOST": sendgrid_stub.base_url + "/",
              "SMS_PROVIDER": "vonage", "VONAGE_API_KEY": "vkey", "VONAGE_API_SECRET": "vsecret",
              "VONAGE_REST_HOST": f"https://{vonage_stub.host_port}", "PROVIDER_TIMEOUT_SECONDS": 5}
    email_sender, sms_sender = check_providers(config)
    assert (email_sender.name, sms_sender.name) == ("sendgrid", "vonage")
    assert email_sender.send_email(email()).provider_message_id == sendgrid_stub.last.response_headers["X-Message-Id"]
    assert sms_sender.send_sms(sms()).provider_message_id
    assert sendgrid_stub.last.path == "/v3/mail/send" and vonage_stub.last.form["client-ref"] == "77"
