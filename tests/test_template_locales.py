"""Message templates per locale (issue #15): ``<key>.<locale>.html`` / ``.txt`` beside the default, chosen by the
shopper's locale (the customer's, else the store's), falling back to the default; Korean defaults for the whole
abandoned-cart sequence, sent through the real SendGrid and Vonage SDKs against the stubs; store overrides per
locale."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

import pytest

from retainful.conversations.keywords import OPT_OUT, keyword_action, revokes
from retainful.coupons import discount_text
from retainful.extensions import db
from retainful.models import Role, Store
from retainful.rendering import overrides
from retainful.rendering.engine import localized_key, render_email, render_sms, template_keys
from retainful.urls import public_urls
from tests.conftest import cart_body, make_app
from tests.test_admin import add_user, logged_in, text
from tests.test_dispatch_providers import at, only
from tests.test_templates import context

STEPS = range(1, 6)
KOREAN_SHOPPER = {"email": "minji@example.kr", "first_name": "민지", "phone": "+82 10-2345-6789",
                  "email_consent": True, "sms_consent": True, "locale": "ko_KR"}


@pytest.fixture
def app(database_url, sendgrid_stub, vonage_stub):
    app = make_app(database_url, EMAIL_PROVIDER="sendgrid", SENDGRID_API_KEY="SG.test-key",
                   SENDGRID_API_HOST=sendgrid_stub.base_url, SMS_PROVIDER="vonage", VONAGE_API_KEY="vk",
                   VONAGE_API_SECRET="vs", VONAGE_REST_HOST=vonage_stub.host_port)
    yield app
    from tests.conftest import _empty_tables
    _empty_tables(app)


@pytest.fixture
def seoul_shop(make_store):
    """A store in Seoul whose own locale is English, so only the shopper's locale can make a message Korean."""
    return make_store(country="KR", timezone="Asia/Seoul", currency="KRW")


def _sent_email(sendgrid_stub):
    (request,) = sendgrid_stub.requests
    mail = request.json
    return mail["subject"], mail["content"][0]["value"], mail["content"][1]["value"], mail["headers"]


def test_a_korean_shopper_gets_the_korean_email_through_sendgrid(seoul_shop, app, sendgrid_stub):
    seoul_shop.put_cart("c", cart_body(customer={**KOREAN_SHOPPER, "phone": None}, currency="KRW"))
    at(app, timedelta(minutes=30))
    message = only(app, "email")
    assert message.status == "sent"
    subject, plain, html, headers = _sent_email(sendgrid_stub)
    assert subject == message.subject == "(광고) 민지님, 장바구니에 담은 상품을 잊지 않으셨나요?"
    assert '<html lang="ko"' in html and "안녕하세요, 민지님." in html and "장바구니로 돌아가기" in html
    assert "수량: 2" in plain and "합계" in plain and "Qty" not in plain and "Total" not in plain
    # The compliance footer: who sends (the store's name and address) and a free refusal, the one-click link.
    unsubscribe = headers["List-Unsubscribe"].strip("<>")
    assert f'<a href="{unsubscribe}"' in html
    assert f"수신거부 ({unsubscribe})를 눌러 주세요." in plain and "Unsubscribe" not in plain


def test_a_korean_shopper_gets_the_korean_sms_through_vonage_as_unicode(seoul_shop, app, vonage_stub):
    seoul_shop.put_cart("c", cart_body(customer={**KOREAN_SHOPPER, "email": None}, currency="KRW"))
    at(app, timedelta(hours=15))  # 09:00 the next morning in Seoul: inside the SMS send hours
    message = only(app, "sms")
    assert message.status == "sent"
    (request,) = vonage_stub.requests
    sms = request.form["text"]
    assert request.form["type"] == "unicode" and sms == message.body_text
    assert sms.startswith("(광고) Acme Mugs: 민지님, 장바구니에 담긴 Red mug 외 1건") and sms.endswith("수신거부: STOP 회신")
    assert "Reply STOP" not in sms  # the Korean line is the opt-out: the English one is not added


def test_an_english_shopper_of_the_same_store_gets_english(seoul_shop, app, sendgrid_stub):
    seoul_shop.put_cart("c", cart_body(currency="KRW"))
    at(app, timedelta(minutes=30))
    subject, plain, html, _ = _sent_email(sendgrid_stub)
    assert subject == "Alice, you left something behind" and "Return to your cart" in html
    assert "Unsubscribe" in plain and "수신거부" not in plain and "(광고)" not in subject


def test_a_shopper_without_a_locale_gets_the_stores_language(make_store, app, sendgrid_stub):
    korean_store = make_store(country="KR", timezone="Asia/Seoul", currency="KRW", locale="ko_KR")
    korean_store.put_cart("c", cart_body(customer={"email": "guest@example.kr", "email_consent": True}))
    at(app, timedelta(minutes=30))
    subject, _, html, _ = _sent_email(sendgrid_stub)
    assert subject == "(광고) Acme Mugs 장바구니에 상품이 남아 있어요" and "안녕하세요, 고객님." in html


def test_a_locale_without_a_file_falls_back_to_the_default(seoul_shop, app, sendgrid_stub):
    seoul_shop.put_cart("c", cart_body(customer={**KOREAN_SHOPPER, "first_name": "Aiko", "phone": None,
                                                 "locale": "ja_JP"}))
    at(app, timedelta(minutes=30))
    subject, _, _, _ = _sent_email(sendgrid_stub)
    assert subject == "Aiko, you left something behind"


@pytest.mark.parametrize("locale, key", [("ko_KR", "abandoned_cart/step1.ko"), ("ko-kr", "abandoned_cart/step1.ko"),
                                         ("KO", "abandoned_cart/step1.ko"), ("en_US", "abandoned_cart/step1"),
                                         (None, "abandoned_cart/step1"), ("", "abandoned_cart/step1"),
                                         ("ja_JP", "abandoned_cart/step1"), ("ko\x00", "abandoned_cart/step1")])
def test_the_locale_picks_the_variant(locale, key):
    assert localized_key("email", "abandoned_cart/step1", locale) == key
    assert localized_key("sms", "welcome/step1", locale) == "welcome/step1"  # no Korean welcome yet: the default


def test_store_overrides_are_per_locale(seoul_shop, app, sendgrid_stub):
    with app.app_context():
        store = db.session.get(Store, seoul_shop.store_id)
        urls = public_urls(app)
        overrides.save_override(store, urls, "email", "abandoned_cart/step1", '{% extends "layout.html" %}'
                                '{% block subject %}Custom English{% endblock %}{% block content %}EN{% endblock %}')
        overrides.save_override(store, urls, "email", "abandoned_cart/step1.ko", '{% extends "layout.ko.html" %}'
                                '{% block subject %}(광고) 맞춤 제목{% endblock %}{% block content %}KO{% endblock %}')
    seoul_shop.put_cart("ko", cart_body(customer={**KOREAN_SHOPPER, "phone": None}))
    seoul_shop.put_cart("en", cart_body())
    at(app, timedelta(minutes=30))
    subjects = sorted(request.json["subject"] for request in sendgrid_stub.requests)
    assert subjects == ["(광고) 맞춤 제목", "Custom English"]


# --- the Korean defaults, step by step ---------------------------------------------------------------------------

COUPON = {"code": "RT-AB12-CD34", "discount": "10% 할인", "expires_at": datetime(2026, 3, 5, 9, tzinfo=timezone.utc)}


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("items, first_name, coupon", [(1, "민지", None), (3, None, COUPON), (2, "서연", COUPON)])
def test_every_korean_step_renders_in_korean_with_its_compliance_lines(step, items, first_name, coupon):
    shopper = context(items, first_name, "KRW", "ko_KR", coupon)
    email = render_email(f"abandoned_cart/step{step}.ko", shopper)
    assert email.subject.startswith("(광고) ") and "{{" not in email.subject and len(email.subject) < 60
    assert (f"{first_name}님" if first_name else "고객님") in email.text
    assert "수신거부 (https://r.example/unsubscribe/TOKEN)를 눌러 주세요." in email.text
    assert "Acme Mugs · 1 Main St, Springfield" in email.text
    assert not any(word in email.text for word in ("Qty", "Total", "Unsubscribe", "Hi ", "checkout"))
    sms = render_sms(f"abandoned_cart/step{step}.ko", shopper)
    assert sms.text.startswith("(광고) Acme Mugs: ") and sms.text.endswith(" 수신거부: STOP 회신")
    assert "https://r.example/r/CODE1234" in sms.text
    # Hangul is not GSM-7: UCS-2, 67 UTF-16 units a part; two parts at most for typical data, so no warning.
    assert (sms.encoding, sms.segments, sms.warnings) == ("UCS-2", 2, [])
    assert 70 < sms.characters <= 134


def test_a_long_korean_product_name_is_cut_so_the_sms_stays_within_two_segments():
    shopper = context(2, "민지", "KRW", "ko_KR")
    first = replace(shopper["cart"].items[0], name="프리미엄 수제 도자기 머그컵 세트 (화이트, 350ml, 선물 포장 포함)")
    shopper["cart"] = replace(shopper["cart"], items=[first, *shopper["cart"].items[1:]])
    sms = render_sms("abandoned_cart/step1.ko", shopper)
    assert "담긴 프리미엄 수제 도자기 머그컵... 외 1건," in sms.text and sms.segments == 2


def test_every_korean_variant_has_its_english_default():
    for channel in ("email", "sms"):
        korean = [key for key in template_keys(channel) if key.endswith(".ko")]
        assert korean == [f"abandoned_cart/step{step}.ko" for step in STEPS]
        assert all(key[:-3] in template_keys(channel) for key in korean)


def test_coupon_discounts_read_in_the_shoppers_language():
    percent = SimpleNamespace(discount_type="percent", amount=Decimal("10.00"), currency="KRW")
    fixed = SimpleNamespace(discount_type="fixed", amount=Decimal("5000"), currency="KRW")
    shipping = SimpleNamespace(discount_type="free_shipping", amount=Decimal(0), currency="KRW")
    assert [discount_text(c, "ko_KR") for c in (percent, fixed, shipping)] == ["10% 할인", "₩5,000 할인", "무료 배송"]
    assert [discount_text(c, "en_US") for c in (percent, fixed, shipping)] == ["10% off", "₩5,000 off",
                                                                             "Free shipping"]


def test_a_korean_reply_that_refuses_opts_out():
    anyone = SimpleNamespace()  # an opt-out applies to every customer: the keyword table asks nothing of them
    assert keyword_action("수신거부", anyone) is OPT_OUT and keyword_action(" 수신 거부 ", anyone) is OPT_OUT
    assert keyword_action("거부", anyone) is OPT_OUT
    assert revokes("이제 문자 수신거부 할게요") and not revokes("감사합니다")


def test_the_editor_lists_and_edits_the_korean_variants(app, make_store):
    store = make_store()
    client = logged_in(app, add_user(app, "marketer@acme.example", Role.MARKETER, [store.store_id]))
    listing = text(client.get("/admin/templates/"))
    assert "abandoned_cart/step1.ko" in listing and "abandoned_cart/step1" in listing
    editor = client.get("/admin/templates/edit/sms/abandoned_cart/step3.ko")
    assert editor.status_code == 200 and "수신거부: STOP 회신" in text(editor)
    assert client.get("/admin/templates/edit/sms/abandoned_cart/step3.ja").status_code == 404


def test_the_api_lists_and_previews_the_korean_variants(shop):
    listed = shop.client.get("/api/v1/templates", headers=shop.headers).get_json()["templates"]
    assert {"channel": "sms", "key": "abandoned_cart/step2.ko", "version": 0, "is_default": True,
            "addable_locales": []} in listed
    preview = shop.client.post("/api/v1/templates/preview", headers=shop.headers,
                               json={"channel": "email", "template": "abandoned_cart/step1.ko"})
    assert preview.status_code == 200, preview.get_json()
    assert preview.get_json()["subject"].startswith("(광고) ") and 'lang="ko"' in preview.get_json()["html"]
    unknown = shop.client.post("/api/v1/templates/preview", headers=shop.headers,
                               json={"channel": "email", "template": "abandoned_cart/step1.ja"})
    assert unknown.status_code in (400, 404) and unknown.get_json()["error"]
