"""The admin's languages (issue #15): every word the code marks is in the Korean catalog and translated, the
compiled catalog matches its source, and a Korean reader sees Korean pages (by browser, then by their own choice)."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from retainful.extensions import db
from retainful.models import Role, User
from tests.test_admin import add_user, csrf_token, log_in, logged_in, post, seed, text

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = ROOT / "admin" / "translations"
KO_PO = CATALOGS / "ko" / "LC_MESSAGES" / "messages.po"
# The same extraction as `make translations` (babel.cfg says which files; these are the keywords beyond gettext's).
EXTRACT = ["extract", "-F", "babel.cfg", "-k", "lazy_gettext", "-k", "_l", "--no-location", "--sort-output"]


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
