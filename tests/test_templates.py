"""Templates marketers own: defaults that render, a sandbox that holds, SMS counts, overrides, preview, test-send."""
from decimal import Decimal

import pytest

from retainful.messaging.sms_encoding import segment_count
from retainful.rendering.context import CartView, ItemView, SampleCustomer, build_context
from retainful.rendering.engine import TemplateError, html_to_text, render_email, render_sms, template_keys
from tests.conftest import cart_body

STEPS = [f"abandoned_cart/step{n}" for n in range(1, 6)]


class FakeStore:
    name, domain, postal_address, timezone, locale, currency = ("Acme Mugs", "acme.example", "1 Main St, Springfield",
                                                                "America/New_York", "en_US", "USD")


def context(items=1, first_name="Alice", currency="USD", locale="en_US", coupon=None):
    lines = [ItemView(f"Item {n}", n, Decimal("12.50"), f"https://acme.example/i{n}.png", "https://acme.example/p")
             for n in range(1, items + 1)]
    total = sum((line.line_total for line in lines), Decimal(0))
    return build_context(FakeStore(), cart=CartView(lines, currency, total, total),
                         customer=SampleCustomer(first_name=first_name), recovery_url="https://r.example/r/CODE1234",
                         unsubscribe_url="https://r.example/unsubscribe/TOKEN", open_pixel_url="https://r.example/o/X.gif",
                         coupon=coupon, locale=locale)


def test_plain_text_part_reads_like_the_email():
    html = ("<!DOCTYPE html><html><head><title>Subject</title><style>p { color: red }</style></head><body>"
            "<!--[if mso]><p>Outlook only</p><![endif]--><div>Hi&nbsp;Alice &amp; co</div>"
            "<p>Your <b>cart</b> is waiting:<br>2 &times; Mug</p>"
            "<a href=\"https://shop.example/r/AB&amp;C\">Return to your cart</a> <a href=\"#top\">top</a>"
            "<table><tr><td>Total</td><td>$25.00</td></tr></table><img src=\"x.png\" alt=\"logo\"></body></html>")
    assert html_to_text(html) == ("Hi Alice & co\n\nYour cart is waiting:\n2 \u00d7 Mug\n"
                                  "Return to your cart (https://shop.example/r/AB&C) top\n\nTotal$25.00")


def test_plain_text_part_survives_broken_markup():
    assert html_to_text("<p>unclosed <b>bold <a href='https://x.example'>link") == "unclosed bold link"
    assert html_to_text("a < b > c <!-- never closed") == "a < b > c"
    # Linear time, not quadratic (this took minutes with a backtracking pattern); a tag never closed stays as text.
    huge = "<a href='https://x.example'>" * 20000 + "<div class='" * 20000
    assert html_to_text(huge) == "<div class='" * 20000


def test_defaults_exist_for_every_step_and_the_next_order_coupon():
    assert template_keys("email") == STEPS + ["next_order/coupon"]
    assert template_keys("sms") == STEPS + ["next_order/coupon"]


@pytest.mark.parametrize("key", STEPS)
@pytest.mark.parametrize("items,first_name,currency,locale,money", [
    (1, "Alice", "USD", "en_US", "$12.50"),
    (4, None, "EUR", "de_DE", "50,00\xa0€"),
])
def test_each_email_default_renders(key, items, first_name, currency, locale, money):
    email = render_email(key, context(items, first_name, currency, locale))
    assert email.subject and len(email.subject) < 80 and "{{" not in email.subject
    assert "https://r.example/r/CODE1234" in email.html
    assert "https://r.example/unsubscribe/TOKEN" in email.html
    assert "1 Main St, Springfield" in email.html
    assert ("Hi Alice" if first_name else "Hi there") in email.text
    assert f"Item {items}" in email.html
    assert 'style="' in email.html  # CSS inlined for mail clients
    assert "{{" not in email.html and "{%" not in email.html
    assert "https://r.example/r/CODE1234" in email.text  # plain-text part keeps the link
    if items == 4:
        assert money.replace("\xa0", " ") in email.text  # 4 x 12.50 in the cart's currency and the shopper's locale


@pytest.mark.parametrize("key", STEPS)
def test_each_sms_default_is_one_short_line_that_names_the_store_and_says_stop(key):
    sms = render_sms(key, context(items=3))
    assert sms.text.startswith("Acme Mugs")
    assert "Hi Alice" in sms.text and "https://r.example/r/CODE1234" in sms.text
    assert sms.text.endswith("Reply STOP to opt out")
    assert "\n" not in sms.text
    assert sms.encoding == "GSM-7" and sms.segments <= 2


def test_sms_without_opt_out_gets_it_appended():
    sms = render_sms("abandoned_cart/step1", context(), source="{{ store.name }}: your cart {{ recovery_url }}")
    assert sms.text == "Acme Mugs: your cart https://r.example/r/CODE1234 Reply STOP to opt out"


@pytest.mark.parametrize("text,encoding,segments,characters", [
    ("a" * 160, "GSM-7", 1, 160),
    ("a" * 161, "GSM-7", 2, 161),
    ("a" * 306, "GSM-7", 2, 306),
    ("a" * 307, "GSM-7", 3, 307),
    ("€" * 80, "GSM-7", 1, 160),  # extension characters take two septets
    ("[" * 81, "GSM-7", 2, 162),
    ("é" * 70, "GSM-7", 1, 70),  # é is in the GSM-7 basic set
    ("😀" * 35, "UCS-2", 1, 70),  # an emoji is two UTF-16 units
    ("😀" * 36, "UCS-2", 2, 72),
    ("한국어" * 23 + "한", "UCS-2", 1, 70),
    ("한" * 71, "UCS-2", 2, 71),
    ("한" * 135, "UCS-2", 3, 135),
])
def test_segment_counts(text, encoding, segments, characters):
    assert segment_count(text) == (encoding, segments, characters)


def test_long_sms_warns():
    sms = render_sms("abandoned_cart/step1", context(), source="x " * 200)
    assert sms.segments > 2 and sms.warnings


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cart.__class__.__init__.__globals__ }}",
    "{{ store.update({'name': 'x'}) }}",
    "{% for x in range(10**9) %}{% endfor %}",
    "{{ customer.__dict__ }}",
])
def test_sandbox_escapes_are_blocked(source):
    try:
        sms = render_sms("abandoned_cart/step1", context(), source=source)
    except TemplateError as error:
        assert error.field == "source"
    else:
        assert "class" not in sms.text and "globals" not in sms.text and "subclasses" not in sms.text


def test_syntax_error_names_the_line():
    with pytest.raises(TemplateError) as raised:
        render_email("abandoned_cart/step1", context(), source="{% block subject %}Hi{% endblock %}\n\n{{ oops(")
    assert raised.value.message.startswith("line 3:")


def test_email_without_subject_is_refused():
    with pytest.raises(TemplateError, match="subject"):
        render_email("abandoned_cart/step1", context(), source="<p>No subject here</p>")


# --- the API -------------------------------------------------------------------------------------------------------

def test_preview_email_and_sms_with_sample_or_real_cart(shop):
    email = shop.client.post("/api/v1/templates/preview", headers=shop.headers,
                             json={"channel": "email", "template": "abandoned_cart/step1"})
    assert email.status_code == 200, email.get_json()
    assert set(email.get_json()) == {"subject", "html", "text"}
    assert "Classic enamel mug" in email.get_json()["html"]
    shop.put_cart("real", cart_body())
    sms = shop.client.post("/api/v1/templates/preview", headers=shop.headers,
                           json={"channel": "sms", "template": "abandoned_cart/step1", "cart_token": "real"}).get_json()
    assert {"text", "encoding", "segments", "characters"} <= set(sms)
    assert "Alice" in sms["text"] and sms["encoding"] == "GSM-7"


def test_preview_of_unsaved_source_with_a_syntax_error_is_400(shop):
    response = shop.client.post("/api/v1/templates/preview", headers=shop.headers, json={
        "channel": "email", "template": "abandoned_cart/step2", "source": "{% block subject %}x{% endblock %}\n{% if %}"})
    assert response.status_code == 400
    assert response.get_json()["error"]["fields"]["source"][0].startswith("line 2:")


def test_preview_validates_fields(shop):
    response = shop.client.post("/api/v1/templates/preview", headers=shop.headers,
                                json={"channel": "fax", "template": "../../etc/passwd"})
    assert response.status_code == 400
    assert set(response.get_json()["error"]["fields"]) == {"channel", "template"}
    unknown = shop.client.post("/api/v1/templates/preview", headers=shop.headers,
                               json={"channel": "sms", "template": "abandoned_cart/step9"})
    assert unknown.status_code == 400
    other_cart = shop.client.post("/api/v1/templates/preview", headers=shop.headers,
                                  json={"channel": "sms", "template": "abandoned_cart/step1", "cart_token": "nope"})
    assert other_cart.status_code == 400 and "cart_token" in other_cart.get_json()["error"]["fields"]


def test_overrides_are_versioned_and_default_is_one_click_away(shop):
    url = "/api/v1/templates/sms/abandoned_cart/step1"
    original = shop.client.get(url, headers=shop.headers).get_json()
    assert original["is_default"] and original["version"] == 0
    saved = shop.client.put(url, headers=shop.headers, json={"source": "{{ store.name }}: come back! Reply STOP"})
    assert saved.status_code == 200 and saved.get_json()["version"] == 1
    broken = shop.client.put(url, headers=shop.headers, json={"source": "{{ store.name "})
    assert broken.status_code == 400
    current = shop.client.get(url, headers=shop.headers).get_json()
    assert current["source"] == "{{ store.name }}: come back! Reply STOP" and not current["is_default"]
    reset = shop.client.post(url + "/reset", headers=shop.headers).get_json()
    assert reset["version"] == 2 and reset["is_default"]
    assert shop.client.get(url, headers=shop.headers).get_json()["source"] == original["source"]
    versions = shop.client.get(url + "/versions", headers=shop.headers).get_json()["versions"]
    assert [v["version"] for v in versions] == [2, 1]
    listed = shop.client.get("/api/v1/templates", headers=shop.headers).get_json()["templates"]
    assert {"channel": "sms", "key": "abandoned_cart/step1", "version": 2, "is_default": True} in listed


def test_another_stores_override_does_not_leak(make_store):
    mine, theirs = make_store(), make_store(name="Other", domain="other.example")
    mine.client.put("/api/v1/templates/sms/abandoned_cart/step1", headers=mine.headers,
                    json={"source": "MINE {{ recovery_url }} STOP"})
    text = theirs.client.post("/api/v1/templates/preview", headers=theirs.headers,
                              json={"channel": "sms", "template": "abandoned_cart/step1"}).get_json()["text"]
    assert "MINE" not in text and text.startswith("Other")


def test_test_send_reaches_the_providers_and_is_marked_a_test(app, shop, sendgrid_stub, vonage_stub):
    app.config.update(EMAIL_PROVIDER="sendgrid", SENDGRID_API_KEY="SG.k", SENDGRID_API_HOST=sendgrid_stub.base_url,
                      SMS_PROVIDER="vonage", VONAGE_API_KEY="k", VONAGE_API_SECRET="s",
                      VONAGE_REST_HOST=vonage_stub.host_port)
    app.extensions.pop("retainful.providers", None)
    email = shop.client.post("/api/v1/templates/test-send", headers=shop.headers, json={
        "channel": "email", "template": "abandoned_cart/step3", "to": "Marketer@Acme.Example"})
    assert email.status_code == 200, email.get_json()
    assert email.get_json()["status"] == "sent" and email.get_json()["to"] == "Marketer@acme.example"
    mail = sendgrid_stub.last.json
    assert mail["subject"].startswith("[Test] ")
    assert mail["personalizations"][0]["to"][0]["email"] == "Marketer@acme.example"
    sms = shop.client.post("/api/v1/templates/test-send", headers=shop.headers, json={
        "channel": "sms", "template": "abandoned_cart/step1", "to": "+1 212 555 0199"})
    assert sms.status_code == 200, sms.get_json()
    assert vonage_stub.last.form["to"] == "12125550199"
    bad = shop.client.post("/api/v1/templates/test-send", headers=shop.headers, json={
        "channel": "sms", "template": "abandoned_cart/step1", "to": "call me"})
    assert bad.status_code == 400


def test_test_send_provider_refusal_is_502_with_reason(app, shop, sendgrid_stub):
    app.config.update(EMAIL_PROVIDER="sendgrid", SENDGRID_API_KEY="SG.k", SENDGRID_API_HOST=sendgrid_stub.base_url)
    app.extensions.pop("retainful.providers", None)
    sendgrid_stub.queue.append((400, {}, b'{"errors": [{"message": "Invalid to address"}]}'))
    response = shop.client.post("/api/v1/templates/test-send", headers=shop.headers, json={
        "channel": "email", "template": "abandoned_cart/step1", "to": "x@example.com"})
    assert response.status_code == 502
    assert "Invalid to address" in response.get_json()["error"]
