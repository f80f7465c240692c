"""A language version a store adds itself (issue #15): "Add a language version" in the template editor opens the
default's source for ``<key>.<locale>``, saving it stores that override, and the dispatcher sends it to shoppers of
that language (the default to the others, and to everyone once it is deleted); other stores keep the default."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from retainful.extensions import db
from retainful.models import Message, Role, TemplateVersion
from tests.conftest import T0
from tests.test_admin import add_user, csrf_token, logged_in, post, text
from tests.test_automations_lifecycle import at, enable, subscribe

EDITOR = "/admin/templates/edit/email/welcome/step1"
KOREAN = ('{% extends "layout.html" %}{% block subject %}(광고) {{ store.name }}에 오신 것을 환영합니다{% endblock %}'
          '{% block content %}<p>안녕하세요, {{ customer.first_name }}님.</p>{% endblock %}')


@pytest.fixture
def owner(app, make_store):
    store = make_store()
    client = logged_in(app, add_user(app, "owner@acme.example", Role.OWNER, [store.store_id]))
    return store, client


def _welcome_subjects(app, store_id: int) -> dict[str, str]:
    with app.app_context():
        return {m.recipient: m.subject for m in db.session.scalars(
            sa.select(Message).where(Message.store_id == store_id, Message.kind == "welcome",
                                     Message.channel == "email", Message.status == "sent"))}


def _add_korean(client) -> str:
    """The editor of the new version, as the button's redirect opens it."""
    added = post(client, "/admin/templates/language/email/welcome/step1", {"locale": "ko"},
                 token=csrf_token(client, EDITOR))
    assert added.status_code == 302 and added.headers["Location"].endswith(f"{EDITOR}.ko")
    return text(client.get(f"{EDITOR}.ko"))


def test_a_korean_version_of_a_template_without_a_korean_file_goes_to_korean_shoppers(app, owner, make_store):
    store, client = owner
    assert 'id="add-language-form"' in text(client.get(EDITOR))
    link = 'id="add-language-email-welcome-step1"'
    listed = text(client.get("/admin/templates/"))
    assert link in listed and 'id="add-language-email-abandoned_cart-step1"' not in listed  # that one has a ko file
    editor = _add_korean(client)
    assert "Welcome to {{ store.name }}" in editor  # prefilled with the default's source
    assert 'id="template-state"' in editor and "not saved yet" in editor
    saved = post(client, "/admin/templates/save/email/welcome/step1.ko", {"source": KOREAN},
                 token=csrf_token(client, f"{EDITOR}.ko"))
    assert saved.status_code == 302
    assert "welcome/step1.ko" in text(client.get("/admin/templates/"))
    assert 'id="add-language-form"' not in text(client.get(EDITOR))  # Korean is there now: nothing left to add
    assert link not in text(client.get("/admin/templates/"))
    listed = {(t["channel"], t["key"]): t["addable_locales"]
              for t in store.client.get("/api/v1/templates", headers=store.headers).get_json()["templates"]}
    assert listed[("email", "welcome/step1")] == [] and listed[("sms", "welcome/step1")] == ["ko"]

    other = make_store(domain="other.example")
    for shop in (store, other):
        enable(app, shop.store_id, "welcome")
    subscribe(store, email="minji@example.kr", first_name="민지", locale="ko_KR")
    subscribe(store, email="alice@example.com", first_name="Alice", locale="en_US")
    subscribe(other, email="seoyeon@example.kr", first_name="서연", locale="ko_KR")
    at(app, T0)
    subjects = _welcome_subjects(app, store.store_id)
    assert subjects["minji@example.kr"] == "(광고) Acme Mugs에 오신 것을 환영합니다"
    assert subjects["alice@example.com"].startswith("Welcome to Acme Mugs")
    assert _welcome_subjects(app, other.store_id)["seoyeon@example.kr"].startswith("Welcome to")


def test_deleting_the_version_sends_its_shoppers_the_default(app, owner):
    store, client = owner
    _add_korean(client)
    post(client, "/admin/templates/save/email/welcome/step1.ko", {"source": KOREAN}, token=csrf_token(client, EDITOR))
    deleted = post(client, "/admin/templates/reset/email/welcome/step1.ko", {}, token=csrf_token(client, EDITOR))
    assert deleted.status_code == 302 and deleted.headers["Location"].endswith(EDITOR)
    assert "welcome/step1.ko" not in text(client.get("/admin/templates/"))
    assert 'id="add-language-form"' in text(client.get(EDITOR))
    enable(app, store.store_id, "welcome")
    subscribe(store, email="minji@example.kr", first_name="민지", locale="ko")
    at(app, T0)
    assert _welcome_subjects(app, store.store_id)["minji@example.kr"].startswith("Welcome to Acme Mugs")


def test_an_sms_template_gets_a_korean_version_too(app, owner):
    _, client = owner
    editor = "/admin/templates/edit/sms/welcome/step1"
    added = post(client, "/admin/templates/language/sms/welcome/step1", {"locale": "ko"},
                 token=csrf_token(client, editor))
    assert added.headers["Location"].endswith(f"{editor}.ko")
    saved = post(client, "/admin/templates/save/sms/welcome/step1.ko",
                 {"source": "(광고) {{ store.name }}: 가입을 환영합니다. 수신거부: STOP 회신"},
                 token=csrf_token(client, editor))
    assert saved.status_code == 302
    assert "가입을 환영합니다" in text(client.get(f"{editor}.ko"))


@pytest.mark.parametrize("locale", ["ja", "", "../ko", "ko/../../etc", "ko\x00", "k" * 10_000, "KO", "en", "ko_KR"])
def test_a_language_the_admin_does_not_offer_is_a_400_at_the_locale_field(app, owner, locale):
    store, client = owner
    refused = post(client, "/admin/templates/language/email/welcome/step1", {"locale": locale},
                   token=csrf_token(client, EDITOR))
    assert refused.status_code == 400
    page = text(refused)
    if "\x00" not in locale:  # a NUL is refused before the view, naming the field
        assert re.search(r'id="add-language-locale-error"[^>]*>Choose one of the languages listed', page)
    assert "locale" in page
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(TemplateVersion)) == 0


@pytest.mark.parametrize("path", ["email/welcome/step1.ja", "email/welcome/step1.ko.ko", "email/welcome/../step1.ko",
                                  "email/abandoned_cart/step1.ko_KR", "email/nothing/step1.ko",
                                  "email/welcome/step1." + "k" * 5000])
def test_a_key_that_is_no_template_nor_version_is_a_404(owner, path):
    _, client = owner
    assert client.get(f"/admin/templates/edit/{path}").status_code == 404


def test_a_version_has_no_language_version_of_its_own(owner):
    _, client = owner
    refused = post(client, "/admin/templates/language/email/abandoned_cart/step1.ko", {"locale": "ko"},
                   token=csrf_token(client, EDITOR))
    assert refused.status_code == 400 and "not to another version" in text(refused)


def test_the_api_edits_a_language_version_by_its_key(shop):
    url = "/api/v1/templates/email/welcome/step1.ko"
    fresh = shop.client.get(url, headers=shop.headers).get_json()
    assert fresh["is_default"] and "Welcome to" in fresh["source"] and fresh["default_source"] == fresh["source"]
    assert shop.client.put(url, json={"source": KOREAN}, headers=shop.headers).status_code == 200
    listed = shop.client.get("/api/v1/templates", headers=shop.headers).get_json()["templates"]
    assert {"channel": "email", "key": "welcome/step1.ko", "version": 1, "is_default": False,
            "addable_locales": []} in listed
    preview = shop.client.post("/api/v1/templates/preview", headers=shop.headers,
                               json={"channel": "email", "template": "welcome/step1.ko"}).get_json()
    assert preview["subject"] == "(광고) Acme Mugs에 오신 것을 환영합니다"
    assert shop.client.post(f"{url}/reset", headers=shop.headers).status_code == 200
    listed = shop.client.get("/api/v1/templates", headers=shop.headers).get_json()["templates"]
    assert not any(row["key"] == "welcome/step1.ko" for row in listed)
    assert shop.client.get("/api/v1/templates/email/welcome/step1.ja", headers=shop.headers).status_code == 404
