"""In production a channel without credentials is disabled, never silently the sandbox (issue #17).

Its due messages are skipped with the reason ``channel_disabled``, the admin's dashboard says so, a test-send through
it fails with the reason, and the worker warns at start. The sandbox is used in production only when EMAIL_PROVIDER or
SMS_PROVIDER names it; development keeps the sandbox as its default.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from retainful import clock, config
from retainful.models import Role
from tests.conftest import _empty_tables, cart_body, make_app
from tests.test_admin import add_user, logged_in, text
from tests.test_recovery_sequence import messages, run_jobs

PROVIDER_SETTINGS = ("EMAIL_PROVIDER", "SMS_PROVIDER", "SENDGRID_API_KEY", "VONAGE_API_KEY", "VONAGE_API_SECRET")
CAROL = {"email": "carol@example.com", "phone": "+12125550123", "first_name": "Carol", "email_consent": True,
         "sms_consent": True}


@pytest.fixture
def environment(monkeypatch):
    """Sets the process environment as an operator would, before the app is made; nothing of the machine's leaks in."""
    for name in PROVIDER_SETTINGS:
        monkeypatch.delenv(name, raising=False)

    def _set(env="production", **settings):
        monkeypatch.setenv("RETAINFUL_ENV", env)
        monkeypatch.setenv("SECRET_KEY", "s" * 48)
        for name, value in settings.items():
            monkeypatch.setenv(name, value)

    return _set


@pytest.fixture
def app(database_url, environment, request):
    """The app made from the environment a test gives by indirect parametrisation (production by default)."""
    environment(**getattr(request, "param", {}))
    app = make_app(database_url)
    yield app
    _empty_tables(app)


def abandon_with_email_and_sms(app, shop):
    """Carol's cart, abandoned; the first step's email and SMS fall due (at 14:30 New York time: no quiet hours)."""
    clock.freeze(clock.now().replace(hour=19))
    shop.put_cart("c", cart_body(customer=CAROL))
    clock.advance(timedelta(minutes=30))
    run_jobs(app)
    first = {}
    for message in messages(app):  # by due time: each channel's first is step 1's
        first.setdefault(message.channel, message)
    return first


def dashboard(app, shop):
    owner = add_user(app, "owner@acme.example", Role.OWNER, [shop.store_id])
    return text(logged_in(app, owner).get("/admin/"))


def test_production_without_credentials_skips_both_channels_and_the_dashboard_says_so(app, shop):
    assert app.config["EMAIL_PROVIDER"] == app.config["SMS_PROVIDER"] == "disabled"
    first = abandon_with_email_and_sms(app, shop)
    assert {channel: (m.status, m.skip_reason, m.sent_at) for channel, m in first.items()} == {
        "email": ("skipped", "channel_disabled", None), "sms": ("skipped", "channel_disabled", None)}
    page = dashboard(app, shop)
    assert 'id="channels-disabled"' in page
    owner = logged_in(app, add_user(app, "marketer@acme.example", Role.MARKETER, [shop.store_id]))
    assert 'id="test-send-disabled"' in text(owner.get("/admin/templates/edit/email/abandoned_cart/step1"))
    assert "Email is disabled on this server" in page and "SMS is disabled on this server" in page
    assert "SENDGRID_API_KEY" in page and "VONAGE_API_SECRET" in page


@pytest.mark.parametrize("app", [{"EMAIL_PROVIDER": "sandbox"}], indirect=True)
def test_the_sandbox_named_on_purpose_works_in_production_and_only_for_its_channel(app, shop):
    first = abandon_with_email_and_sms(app, shop)
    assert (first["email"].status, first["email"].provider) == ("sent", "sandbox")
    assert (first["sms"].status, first["sms"].skip_reason) == ("skipped", "channel_disabled")
    page = dashboard(app, shop)
    assert "SMS is disabled on this server" in page and "Email is disabled" not in page


@pytest.mark.parametrize("app", [{"env": "development"}], indirect=True)
def test_development_keeps_the_sandbox_as_its_default(app, shop):
    first = abandon_with_email_and_sms(app, shop)
    assert {channel: (m.status, m.provider) for channel, m in first.items()} == {
        "email": ("sent", "sandbox"), "sms": ("sent", "sandbox")}
    assert 'id="channels-disabled"' not in dashboard(app, shop)


@pytest.fixture
def live_sendgrid(environment, monkeypatch, sendgrid_stub):
    """SendGrid's key and (stub) host in the environment; ask for it before ``app``."""
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.live-key")
    monkeypatch.setenv("SENDGRID_API_HOST", sendgrid_stub.base_url)
    return sendgrid_stub


def test_production_with_a_key_sends_through_the_live_provider(live_sendgrid, app, shop):
    first = abandon_with_email_and_sms(app, shop)
    assert (first["email"].status, first["email"].provider) == ("sent", "sendgrid")
    assert live_sendgrid.last.headers["Authorization"] == "Bearer SG.live-key"
    assert first["sms"].skip_reason == "channel_disabled"


def test_a_test_send_through_a_disabled_channel_fails_with_the_reason(app, shop):
    response = shop.client.post("/api/v1/templates/test-send", headers=shop.headers, json={
        "channel": "email", "template": "abandoned_cart/step1", "to": "marketer@acme.example"})
    assert response.status_code == 502
    body = response.get_json()
    assert (body["status"], body["provider"]) == ("failed", "disabled")
    assert body["error"].startswith("email is disabled: set SENDGRID_API_KEY")


def test_the_worker_warns_which_channels_are_disabled(app):
    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "Warning: email is disabled" in result.output and "Warning: SMS is disabled" in result.output


@pytest.mark.parametrize("env, settings, expected", [
    ("production", {}, ("disabled", "disabled")),
    ("production", {"SENDGRID_API_KEY": "SG.k", "VONAGE_API_KEY": "k"}, ("sendgrid", "vonage")),
    ("production", {"EMAIL_PROVIDER": "sandbox", "SMS_PROVIDER": "Sandbox"}, ("sandbox", "Sandbox")),
    ("development", {}, ("sandbox", "sandbox")),
    ("development", {"SMS_PROVIDER": "disabled"}, ("sandbox", "disabled")),
])
def test_which_provider_each_channel_gets(tmp_path, environment, env, settings, expected):
    environment(env, **settings)
    loaded = config.load(str(tmp_path))
    assert (loaded["EMAIL_PROVIDER"], loaded["SMS_PROVIDER"]) == expected
