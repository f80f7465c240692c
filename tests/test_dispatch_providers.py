"""The dispatcher driving the real SendGrid and Vonage SDKs over HTTP against local wire-format stubs."""
import json
from datetime import timedelta

import pytest

from retainful import clock
from retainful.extensions import db
from retainful.models import Message
from tests.conftest import T0, cart_body, make_app
from tests.test_recovery_sequence import messages, run_jobs


@pytest.fixture
def app(database_url, sendgrid_stub, vonage_stub):
    app = make_app(database_url, EMAIL_PROVIDER="sendgrid", SENDGRID_API_KEY="SG.test-key",
                   SENDGRID_API_HOST=sendgrid_stub.base_url, SMS_PROVIDER="vonage", VONAGE_API_KEY="vk",
                   VONAGE_API_SECRET="vs", VONAGE_REST_HOST=vonage_stub.host_port, DISPATCH_MAX_ATTEMPTS=3)
    yield app
    from tests.conftest import _empty_tables
    _empty_tables(app)


@pytest.fixture
def uk_shop(make_store):
    return make_store(country="GB", timezone="Europe/London")


def at(app, delta):
    clock.freeze(T0 + delta)
    return run_jobs(app)


def only(app, channel):
    """The step-1 message of the one cart (the earliest due)."""
    return messages(app, channel=channel)[0]


def test_email_goes_out_through_sendgrid_with_unsubscribe_headers(shop, app, sendgrid_stub):
    shop.put_cart("c", cart_body())
    at(app, timedelta(minutes=30))
    message = only(app, "email")
    assert message.status == "sent" and message.provider == "sendgrid"
    (request,) = sendgrid_stub.requests
    assert request.path == "/v3/mail/send"
    assert request.headers["Authorization"] == "Bearer SG.test-key"
    mail = request.json
    assert mail["from"] == {"email": "no-reply@acme.example", "name": "Acme Mugs"}
    assert mail["personalizations"][0]["to"] == [{"email": "alice@example.com", "name": "Alice"}]
    assert mail["subject"] == message.subject
    assert [c["type"] for c in mail["content"]] == ["text/plain", "text/html"]
    assert "Red mug" in mail["content"][0]["value"] and "Red mug" in mail["content"][1]["value"]
    assert mail["headers"]["List-Unsubscribe"].startswith("<http://127.0.0.1:5000/unsubscribe/")
    assert mail["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["custom_args"] == {"message_id": str(message.id)}
    assert message.provider_message_id == request.response_headers["X-Message-Id"]


def test_transient_500_is_retried_then_sent_once(shop, app, sendgrid_stub):
    sendgrid_stub.queue.append((500, {}, b'{"errors": [{"message": "Internal error"}]}'))
    shop.put_cart("c", cart_body())
    at(app, timedelta(minutes=30))
    message = only(app, "email")
    assert (message.status, message.attempts) == ("scheduled", 1)
    assert "500" in message.error
    assert T0 + timedelta(minutes=30, seconds=30) <= message.due_at <= T0 + timedelta(minutes=31, seconds=30)
    at(app, message.due_at - T0)
    message = only(app, "email")
    assert (message.status, message.attempts) == ("sent", 2)
    assert [r.response_status for r in sendgrid_stub.requests] == [500, 202]


def test_retry_after_is_honoured(shop, app, sendgrid_stub):
    sendgrid_stub.queue.append((429, {"Retry-After": "600"}, b'{"errors": [{"message": "Too many requests"}]}'))
    shop.put_cart("c", cart_body())
    at(app, timedelta(minutes=30))
    assert only(app, "email").due_at >= T0 + timedelta(minutes=40)


def test_permanent_400_fails_at_once_with_the_providers_reason(shop, app, sendgrid_stub):
    sendgrid_stub.queue.append((400, {}, b'{"errors": [{"message": "The from address does not match a verified '
                                          b'Sender Identity.", "field": "from"}]}'))
    shop.put_cart("c", cart_body())
    at(app, timedelta(minutes=30))
    message = only(app, "email")
    assert message.status == "failed"
    assert "verified Sender Identity" in message.error
    at(app, timedelta(hours=2))
    assert len(sendgrid_stub.requests) == 1


def test_transient_errors_give_up_after_the_attempt_limit(shop, app, sendgrid_stub):
    for _ in range(3):
        sendgrid_stub.queue.append((503, {}, b'{"errors": [{"message": "Unavailable"}]}'))
    shop.put_cart("c", cart_body())
    delta = timedelta(minutes=30)
    for _ in range(3):
        at(app, delta)
        delta = only(app, "email").due_at - T0
    message = only(app, "email")
    assert (message.status, message.attempts) == ("failed", 3)
    assert len(sendgrid_stub.requests) == 3


def test_sms_goes_out_through_vonage_from_the_store(uk_shop, app, vonage_stub):
    customer = {"first_name": "Sam", "phone": "07911 123456", "sms_consent": True}
    uk_shop.put_cart("c", cart_body(customer=customer))
    at(app, timedelta(minutes=30))  # 09:30 in London: inside the send window
    message = only(app, "sms")
    assert message.status == "sent" and message.provider == "vonage"
    (request,) = vonage_stub.requests
    assert request.path == "/sms/json"
    assert request.form["to"] == "447911123456"
    assert request.form["from"] == "AcmeMugs"
    assert request.form["client-ref"] == str(message.id)
    assert request.form["text"] == message.body_text
    assert request.form["text"].startswith("Acme Mugs: Hi Sam")
    assert message.provider_message_id == json.loads(request.response_body)["messages"][0]["message-id"]


def test_worker_refuses_to_start_without_credentials(runner, app):
    app.config["SENDGRID_API_KEY"] = ""
    app.extensions.pop("retainful.providers", None)
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code != 0
    assert "SENDGRID_API_KEY" in result.output


def test_message_rows_keep_what_was_sent(shop, app):
    shop.put_cart("c", cart_body())
    at(app, timedelta(minutes=30))
    with app.app_context():
        message = db.session.query(Message).filter_by(channel="email", status="sent").one()
        assert message.recipient == "alice@example.com"
        assert message.body_html and message.body_text and message.sent_at == T0 + timedelta(minutes=30)
