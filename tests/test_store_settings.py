"""One validator for store settings (retainful/stores/settings.py): the CLI's configure-store and the admin's
settings page refuse the same bad value for the same reason (the CLI naming the field, the page saying it at the field
under its label), and save nothing; the page names every bad field at once and keeps what was typed. (The API has no
store-settings endpoint.)"""
from __future__ import annotations

from html import unescape

import pytest

from retainful.extensions import db
from retainful.models import Role, Store
from retainful.stores import settings
from retainful_admin.forms import sentence
from tests.test_admin import GENERAL, add_user, csrf_token, logged_in, post, text

CASES = [  # (field, bad value, configure-store arguments, admin form and its fields)
    ("retention_days", 0, ["--retention-days", "0"], "general", {**GENERAL, "retention_days": "0"}),
    ("abandon_after_minutes", 1441, ["--abandon-after-minutes", "1441"], "general",
     {**GENERAL, "abandon_after_minutes": "1441"}),
    ("quiet_hours_start", 25, ["--quiet-hours", "25-8"], "general", {**GENERAL, "quiet_hours_start": "25"}),
    ("email_cap_hours", 721, ["--email-cap-hours", "721"], "general", {**GENERAL, "email_cap_hours": "721"}),
    ("sms_sender", "Way too long sender", ["--sms-sender", "Way too long sender"], "general",
     {**GENERAL, "sms_sender": "Way too long sender"}),
    ("sms_sender", "ACME-SHOP", ["--sms-sender", "ACME-SHOP"], "general", {**GENERAL, "sms_sender": "ACME-SHOP"}),
    ("timezone", "Mars/Olympus", ["--timezone", "Mars/Olympus"], "general", {**GENERAL, "timezone": "Mars/Olympus"}),
    ("holdout_percent", 90, ["--holdout-percent", "90"], "holdout", {"holdout_percent": "90"}),
]


@pytest.mark.parametrize("field, value, arguments, form, fields", CASES,
                         ids=[f"{case[0]}={case[1]}" for case in CASES])
def test_cli_and_admin_refuse_a_bad_setting_with_the_same_answer(app, shop, runner, field, value, arguments, form,
                                                                  fields):
    reason = settings.errors({field: value})[field]
    expected = f"{field}: {reason}"
    with app.app_context():
        before = getattr(db.session.get(Store, shop.store_id), field)

    cli = runner.invoke(args=["configure-store", str(shop.store_id), *arguments])
    assert cli.exit_code != 0 and expected in cli.output

    owner = logged_in(app, add_user(app, "owner@acme.test", Role.OWNER, [shop.store_id]))
    page = post(owner, f"/admin/settings/{form}", fields, csrf_token(owner))
    html = unescape(text(page))
    assert page.status_code == 400 and f'id="{field}-error">{sentence(reason)}</div>' in html
    assert f'<label for="{field}">{settings.label(field)}</label>' in html and f"{field}:" not in html

    with app.app_context():
        assert getattr(db.session.get(Store, shop.store_id), field) == before


def test_every_bad_field_is_named_at_once(app):
    with pytest.raises(settings.StoreSettingsError) as refused:
        settings.check({"retention_days": 0, "quiet_hours_end": 24, "paused": "yes", "sender_name": "ok"})
    assert set(refused.value.errors) == {"retention_days", "quiet_hours_end", "paused"}


def test_the_settings_page_shows_every_error_at_its_field_and_keeps_what_was_typed(app, shop):
    owner = logged_in(app, add_user(app, "owner@acme.test", Role.OWNER, [shop.store_id]))
    page = post(owner, "/admin/settings/general", {**GENERAL, "retention_days": "0", "quiet_hours_end": "soon",
                                                   "sms_sender": "ACME-SHOP", "sender_email": "not an address",
                                                   "name": "Typed name"},
                csrf_token(owner))
    html = unescape(text(page))
    assert page.status_code == 400 and "4 fields need a change" in html
    for field in ("retention_days", "quiet_hours_end", "sms_sender", "sender_email"):
        assert f'id="{field}-error"' in html and f'href="#{field}"' in html, field
    assert "A whole number, not 'soon'." in html and 'value="soon"' in html and 'value="Typed name"' in html
    assert 'aria-invalid="true"' in html and 'class="form-control is-invalid"' in html
    assert 'min="1"' in html and 'max="3650"' in html  # the table's rule, in the browser too
    with app.app_context():
        assert db.session.get(Store, shop.store_id).name != "Typed name"
