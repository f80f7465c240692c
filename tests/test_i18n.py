"""The admin's languages (issue #15): every word the code marks is in the Korean catalog and translated, the
compiled catalog matches its source, and a Korean reader sees Korean pages (by browser, then by their own choice)."""
from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from html import unescape
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from retainful.extensions import db
from retainful.models import Role, User
from tests.test_admin import GENERAL, PASSWORD, add_user, csrf_token, log_in, logged_in, post, seed, text

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = ROOT / "admin" / "translations"
KO_PO = CATALOGS / "ko" / "LC_MESSAGES" / "messages.po"
# The same extraction as `make translations` (babel.cfg says which files; these are the keywords beyond gettext's).
EXTRACT = ["extract", "-F", "babel.cfg", "-k", "lazy_gettext", "-k", "_l", "-k", "Nn_:1,2", "--no-location",
           "--sort-output"]


def _catalog(path: Path, locale: str | None = None):
    with path.open("rb") as file:
        return read_po(file, locale=locale)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    done = subprocess.run([sys.executable, "-m", "babel.messages.frontend", *EXTRACT, "-o", str(pot), "."],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return _catalog(pot)


def test_every_marked_word_has_a_korean_translation(extracted):
    korean = _catalog(KO_PO, "ko")
    ids = [message.id for message in extracted if message.id]
    assert len(ids) > 10  # the extraction found the admin's words
    missing = [message_id for message_id in ids if message_id not in korean]
    assert missing == [], "not in the ko catalog (run `make translations`, then translate)"
    untranslated = [message.id for message in korean if message.id and (
        not all(message.string) if message.pluralizable else not message.string)]
    assert untranslated == []
    fuzzy = [message.id for message in korean if message.id and message.fuzzy]
    assert fuzzy == []  # a fuzzy guess is never compiled, so the page would show English


def test_the_compiled_catalogs_match_their_sources():
    for po in CATALOGS.glob("*/LC_MESSAGES/messages.po"):
        compiled = io.BytesIO()
        write_mo(compiled, _catalog(po, po.parent.parent.name))
        assert po.with_suffix(".mo").read_bytes() == compiled.getvalue(), f"{po.with_suffix('.mo')} is stale: " \
                                                                         "run `make translations`"


@pytest.mark.parametrize("header, expected, absent", [
    ("ko-KR,ko;q=0.9,en-US;q=0.8", "로그인", "Log in"),
    ("en-GB,ko;q=0.5", "Log in", "로그인"),  # the primary tag of the first choice wins over a later exact match
    ("fr-FR", "Log in", "로그인"),  # no catalog: English
])
def test_the_login_page_speaks_the_browsers_language(client, header, expected, absent):
    page = text(client.get("/admin/login", headers={"Accept-Language": header}))
    assert expected in page and f">{absent}<" not in page


def test_a_wrong_password_is_refused_in_korean(app, client):
    add_user(app, "ko@acme.example", Role.ADMIN)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ko"
    refused = log_in(client, "ko@acme.example", "not the password")
    assert refused.status_code == 401
    assert "이메일 또는 비밀번호가 올바르지 않습니다." in text(refused)


def test_a_user_who_chose_korean_sees_korean_pages_whatever_the_browser_says(app, make_store):
    store = make_store()
    user_id = add_user(app, "owner@acme.example", Role.OWNER, [store.store_id])
    with app.app_context():
        db.session.get(User, user_id).locale = "ko"
        db.session.commit()
    client = logged_in(app, user_id)
    page = text(client.get("/admin/", headers={"Accept-Language": "en-US"}))
    assert "로그아웃" in page and "장바구니" in page  # the navbar's button and Flask-Admin's menu
    assert ">Log out<" not in page


def _locale_of(app, user_id):
    with app.app_context():
        return db.session.get(User, user_id).locale


def test_a_user_picks_korean_in_the_navbar_and_back_to_the_browsers_language(app, make_store):
    store = make_store()
    user_id = add_user(app, "marketer@acme.example", Role.MARKETER, [store.store_id])
    client = logged_in(app, user_id)
    page = text(client.get("/admin/carts/"))
    assert 'id="language-form"' in page and 'id="language-ko"' in page and "한국어" in page
    chosen = post(client, "/admin/language", {"locale": "ko", "next": "/admin/carts/?status=abandoned"})
    assert chosen.status_code == 302 and chosen.headers["Location"] == "/admin/carts/?status=abandoned"
    assert _locale_of(app, user_id) == "ko"
    assert "로그아웃" in text(client.get("/admin/carts/?status=abandoned"))
    assert post(client, "/admin/language", {"locale": ""}).headers["Location"] == "/admin/"
    assert _locale_of(app, user_id) is None
    assert "Log out" in text(client.get("/admin/carts/", headers={"Accept-Language": "en"}))


def test_an_agent_may_choose_a_language_too(app, make_store):
    store = make_store()
    user_id = add_user(app, "agent@acme.example", Role.AGENT, [store.store_id])
    client = logged_in(app, user_id)
    assert post(client, "/admin/language", {"locale": "ko"}, token=csrf_token(client, "/admin/inbox/")
                ).status_code == 302
    assert _locale_of(app, user_id) == "ko"


@pytest.mark.parametrize("locale", ["fr", "ko%00", "%ED%A0%80", "k" * 100_000, "EN", "ko%0D%0A"])
def test_a_language_that_is_not_offered_is_refused_naming_the_field(app, make_store, locale):
    """The body as a browser (or a forger) sends it, percent-encoded: a NUL, a lone surrogate, 100 kB."""
    store = make_store()
    user_id = add_user(app, "owner@acme.example", Role.OWNER, [store.store_id])
    client = logged_in(app, user_id)
    refused = client.post("/admin/language", data=f"csrf_token={csrf_token(client)}&locale={locale}",
                          content_type="application/x-www-form-urlencoded")
    assert refused.status_code == 400
    assert "locale" in refused.get_json()["error"]["fields"]
    assert _locale_of(app, user_id) is None


def test_the_language_form_needs_a_login_and_its_csrf_token(app, client, make_store):
    store = make_store()
    anonymous = client.post("/admin/language", data={"locale": "ko", "csrf_token": csrf_token(client, "/admin/login")})
    assert anonymous.status_code == 302 and "/admin/login" in anonymous.headers["Location"]
    user_id = add_user(app, "owner@acme.example", Role.OWNER, [store.store_id])
    forged = logged_in(app, user_id).post("/admin/language", data={"locale": "ko"})
    assert forged.status_code == 400 and _locale_of(app, user_id) is None
    offsite = post(logged_in(app, user_id), "/admin/language", {"locale": "ko", "next": "https://evil.example/"})
    assert offsite.headers["Location"] == "/admin/"


def _pages(ids):
    """Every admin page a store owner reads, with the seeded rows' detail pages."""
    return ["/admin/", "/admin/carts/", f"/admin/carts/{ids['cart']}", f"/admin/carts/{ids['recovered_cart']}",
            "/admin/customers/", f"/admin/customers/{ids['customer']}", "/admin/orders/",
            f"/admin/orders/{ids['order']}", "/admin/messages/", f"/admin/messages/{ids['message']}",
            f"/admin/messages/{ids['failed_message']}", "/admin/coupons/", f"/admin/coupons/{ids['coupon']}",
            "/admin/automations/", "/admin/automations/win_back/", "/admin/sequence/", "/admin/templates/",
            "/admin/templates/edit/email/abandoned_cart/step3", "/admin/templates/edit/sms/abandoned_cart/step1.ko",
            "/admin/reports/", "/admin/reports/?days=7", "/admin/reports/conversations", "/admin/settings/",
            "/admin/inbox/", "/admin/inbox/?status=closed", "/admin/inbox/canned"]


@pytest.mark.parametrize("locale", ["ko", "en"])
def test_every_admin_page_renders_in_each_language(app, shop, locale):
    """A wrapped word with a stray % or a wrong placeholder would be a 500 in one language only."""
    ids = seed(app, shop)
    user_id = add_user(app, "owner@acme.example", Role.OWNER, [ids["store"]])
    with app.app_context():
        db.session.get(User, user_id).locale = locale
        db.session.commit()
    client = logged_in(app, user_id)
    for path in _pages(ids):
        page = client.get(path)
        assert page.status_code == 200, path
        assert ("로그아웃" in text(page)) == (locale == "ko"), path
    if locale == "ko":  # a sample of each kind of word: headings, table heads, badges, plurals, merged sentences
        assert "일별 이탈 및 복구" in text(client.get("/admin/"))
        carts = text(client.get("/admin/carts/"))
        assert "마지막 활동" in carts and "조건에 맞는" not in carts and "이탈" in carts
        assert "장바구니 생성" in text(client.get(f"/admin/carts/{ids['cart']}"))  # the timeline, from Python
        assert "복구 매출" in text(client.get("/admin/reports/"))
        missing = client.get("/admin/carts/999999")
        assert missing.status_code == 404 and "페이지가 없습니다" in text(missing)  # the frame's error pages too
        settings = text(client.get("/admin/settings/"))
        assert "이탈 판단 시간(분)" in settings and "더 보기" in settings  # the settings table's labels, the More menu
        refused = post(client, "/admin/sequence/step/1", {"delay_value": "abc", "delay_unit": "minutes"})
        assert refused.status_code == 400 and "지연: 정수를 입력하세요" in text(refused)


# --- the domain's words (retainful/words.py): English in the API and the CLI, the reader's language in the admin ---

def _korean(app, store_id, role=Role.OWNER):
    user_id = add_user(app, f"{role}@acme.example", role, [store_id])
    with app.app_context():
        db.session.get(User, user_id).locale = "ko"
        db.session.commit()
    return logged_in(app, user_id)


def _at_field(page, name):
    """The error shown under a form field (the form macros' ``<name>-error``)."""
    found = re.search(rf'id="{name}-error">([^<]*)<', unescape(text(page)))
    assert found, f"no error at {name}"
    return found.group(1)


def test_a_bad_store_setting_is_refused_in_korean_at_its_field_and_in_english_by_the_cli(app, shop, runner):
    owner = _korean(app, shop.store_id)
    page = post(owner, "/admin/settings/general", {**GENERAL, "abandon_after_minutes": "1441",
                                                   "timezone": "Mars/Olympus", "sms_sender": "ACME-SHOP"})
    assert page.status_code == 400
    assert _at_field(page, "abandon_after_minutes") == "1에서 1440 사이의 정수여야 합니다."
    assert _at_field(page, "timezone") == "알 수 없는 시간대입니다: 'Mars/Olympus'."
    assert _at_field(page, "sms_sender") == "영문자와 숫자 11자 이하이거나 전화번호여야 합니다."
    assert "whole number" not in text(page) and "time zone" not in text(page)
    cli = runner.invoke(args=["configure-store", str(shop.store_id), "--abandon-after-minutes", "1441"])
    assert cli.exit_code != 0 and "abandon_after_minutes: must be a whole number from 1 to 1440" in cli.output


def test_a_bad_automation_step_is_refused_in_korean_and_the_api_answers_in_english(app, shop):
    owner = _korean(app, shop.store_id)
    page = post(owner, "/admin/sequence/step/2", {"delay_value": "1", "delay_unit": "minutes", "email": "1",
                                                  "enabled": "1"})
    assert page.status_code == 400
    assert "이전 단계의 지연 시간보다 길고 다음 단계보다 짧아야 합니다." in text(page)
    assert "previous step" not in text(page)
    body = shop.client.get("/api/v1/automations/abandoned_cart", headers=shop.headers).get_json()
    steps = [{key: step[key] for key in ("position", "delay", "at_hour", "channels", "coupon", "enabled")}
             for step in body["steps"]]
    steps[0]["delay"] = "61d"
    answer = shop.client.put("/api/v1/automations/abandoned_cart", json={"enabled": True, "steps": steps},
                             headers={**shop.headers, "Accept-Language": "ko"})
    assert answer.status_code == 400
    assert answer.get_json()["error"]["fields"] == {"steps.0.delay": ["Between 1 minute and 60 days."]}


def test_a_reason_built_of_counted_words_is_said_whole_in_korean(app):
    from retainful.automations import registry
    from retainful.automations.settings import _between
    from retainful_admin.i18n import word

    refusal = _between(registry.get("abandoned_cart"))
    assert refusal == "Between 1 minute and 60 days."  # the API's and the CLI's English
    with app.test_request_context(headers={"Accept-Language": "ko"}):
        assert word(refusal) == "1분에서 60일 사이여야 합니다."


def test_a_bad_campaign_is_refused_in_korean_at_its_field_and_in_english_by_the_api(app, shop):
    from tests.test_campaigns_admin import FORM

    marketer = _korean(app, shop.store_id, Role.MARKETER)
    page = post(marketer, "/admin/campaigns/new", {**FORM, "send_at": "2020-01-01T10:00"},
                csrf_token(marketer, "/admin/campaigns/new"))
    assert page.status_code == 400
    assert _at_field(page, "send_at") == "이미 지난 시간입니다. 지금 이후의 시간을 입력하세요."
    assert "In the past" not in text(page)
    answer = shop.client.post("/api/v1/campaigns", json={"name": "Winter sale", "channels": ["email"],
                                                         "send_at": "2020-01-01T10:00:00"},
                              headers={**shop.headers, "Accept-Language": "ko"})
    assert answer.status_code == 400
    assert answer.get_json()["error"]["fields"] == {"send_at": ["In the past: give a time from now on."]}


def test_an_invitation_to_a_bad_address_is_refused_in_korean(app, shop):
    owner = _korean(app, shop.store_id)
    page = post(owner, "/admin/people/invite", {"email": "not an address", "role": "marketer"},
                csrf_token(owner, "/admin/people/"))
    assert page.status_code == 400
    assert _at_field(page, "email") == "이메일 주소를 입력하세요(예: name@example.com)."
    assert "Enter an email address" not in text(page)
    assert '<option value="marketer" selected>마케터</option>' in text(page)  # the roles in words too


def test_a_wrong_current_password_and_a_short_new_one_are_refused_in_korean(app, shop):
    owner = _korean(app, shop.store_id)
    token = csrf_token(owner, "/admin/account")
    wrong = post(owner, "/admin/account", {"current_password": "not it", "new_password": "long enough pass",
                                           "confirm_password": "long enough pass"}, token)
    assert wrong.status_code == 400
    assert _at_field(wrong, "current_password") == "현재 비밀번호가 올바르지 않습니다."
    assert "not right" not in text(wrong)
    short = post(owner, "/admin/account", {"current_password": PASSWORD, "new_password": "short",
                                           "confirm_password": "short"}, token)
    assert short.status_code == 400
    assert _at_field(short, "new_password") == "비밀번호는 8자 이상이어야 합니다."
    assert "at least" not in text(short)


def test_the_visual_editors_block_and_variable_labels_are_korean(app, shop):
    owner = _korean(app, shop.store_id)
    page = text(owner.get("/admin/templates/edit/email/abandoned_cart/step1"))
    data = json.loads(unescape(re.search(r'id="editor-data">(.*?)</script>', page, re.S).group(1)))
    kinds = {kind["type"]: kind for kind in data["blockTypes"]}
    assert kinds["button"]["label"] == "버튼"
    assert [field["label"] for field in kinds["image"]["fields"]] == [
        "이미지 주소 (https)", "설명 (화면 낭독기와 이미지가 차단된 경우용)", "링크 (선택)"]
    assert {variable["label"] for variable in data["variables"]} >= {"장바구니 합계", "쿠폰 코드"}
    assert "Image address" not in json.dumps(data, ensure_ascii=False)
    refused = post(owner, "/admin/templates/blocks-to-source/email/abandoned_cart/step1", {"document": json.dumps(
        {"subject": "Hi", "preheader": "", "blocks": [{"type": "button", "label": "Go", "url": "http://x.example"}]})},
        csrf_token(owner))
    assert refused.status_code == 400
    assert refused.get_json()["error"] == {"code": "validation_error", "field": "blocks.0.url", "line": None,
                                           "message": "https:// 주소나 링크 변수여야 합니다."}


def test_report_notes_are_korean_on_the_dashboard_and_the_reports_page(app, shop):
    owner = _korean(app, shop.store_id)
    for path in ("/admin/", "/admin/reports/"):
        page = text(owner.get(path))
        assert "복구를 켜기 전의 기록이 부족합니다." in page, path
        assert "Not enough history" not in page, path
    assert "효과를 측정하기에 장바구니가 너무 적습니다." in text(owner.get("/admin/reports/"))
