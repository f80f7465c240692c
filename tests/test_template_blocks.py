"""The visual editor's blocks: written as template source, read back from it, rendered by the real engine, refused
when hostile; the admin's blocks endpoints; a template made of blocks sent through the real SendGrid SDK; the sample
cart's pictures served by the app; template errors' lines."""
from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from retainful import clock
from retainful.errors import FieldError
from retainful.extensions import db
from retainful.models import Message, Role, Store
from retainful.rendering import blocks
from retainful.rendering.context import sample_context
from retainful.rendering.engine import default_source, render_email, template_keys
from retainful.rendering.variables import MERGE_VARIABLES
from retainful.urls import PublicUrls, public_urls
from tests.conftest import cart_body
from tests.test_admin import add_user, csrf_token, logged_in, post
from tests.test_recovery_sequence import run_jobs

URLS = PublicUrls("https://retainful.example")

ONE_OF_EACH = [
    {"type": "heading", "text": "Your {{ store.name }} cart & more <3"},
    {"type": "text", "text": 'Hi {{ customer.first_name or "there" }},\nwe kept {it} for you.\n\n"Really".'},
    {"type": "items"},
    {"type": "coupon"},
    {"type": "button", "label": "Back to it, {{ customer.first_name }}", "url": "{{ recovery_url }}"},
    {"type": "image", "src": "https://cdn.example/banner.png?w=600&h=200", "alt": "Autumn's teas",
     "href": "https://acme.example/teas?x=1&y=2"},
    {"type": "image", "src": "https://retainful.example/admin/assets/sample/mug.png", "alt": "", "href": ""},
    {"type": "divider"},
    {"type": "footer", "text": "You get this because you shopped at {{ store.name }}."},
]


def document(*block_list, subject="Hi {{ customer.first_name }}, a note from {{ store.name }}",
             preheader="Your cart & a code inside"):
    return {"subject": subject, "preheader": preheader, "blocks": list(block_list)}


# --- blocks -> source -> blocks ------------------------------------------------------------------------------------

@pytest.mark.parametrize("block", ONE_OF_EACH, ids=lambda block: block["type"])
def test_every_block_type_round_trips_through_source(block):
    given = document(block)
    source = blocks.to_source(given, URLS)
    assert blocks.from_source(source, URLS) == given
    assert blocks.from_source(source.replace("\n", "\r\n"), URLS) == given  # what a browser's textarea sends


def test_a_whole_email_round_trips_and_renders_what_the_blocks_say(app, shop):
    given = document(*ONE_OF_EACH)
    source = blocks.to_source(given, URLS)
    assert blocks.from_source(source, URLS) == given
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        context = sample_context(store, URLS, "abandoned_cart/step1")
        context["coupon"] = {"code": "SAVE10", "discount": "10% off", "expires_at": None}
        email = render_email("abandoned_cart/step1", context, source)
    assert email.subject == "Hi Alex, a note from Acme Mugs"
    assert email.preheader == "Your cart & a code inside"
    html = email.html
    assert "<h1" in html and "Your Acme Mugs cart &amp; more &lt;3</h1>" in html
    assert "Hi Alex,<br>" in html and "we kept {it} for you." in html and '"Really".' in html
    assert "Classic enamel mug" in html and "Loose-leaf tea sampler" in html  # the product list
    assert "SAVE10" in html and "10% off" in html  # the coupon
    assert f'href="{URLS.recovery("SAMPLECODE")}"' in html and "Back to it, Alex</a>" in html
    assert 'src="https://cdn.example/banner.png?w=600&amp;h=200"' in html and "Autumn's teas" in html
    assert 'href="https://acme.example/teas?x=1&amp;y=2"' in html
    assert "<hr" in html
    assert "You get this because you shopped at Acme Mugs." in html
    assert "left items in your cart" not in html  # the footer block replaced the layout's reason
    assert "Unsubscribe" in html  # the layout's compliance footer stays
    assert "Back to it, Alex" in email.text


def test_the_starter_of_every_email_template_renders(app, shop):
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        for key in template_keys("email"):
            source = blocks.to_source(blocks.starter(key), URLS)
            assert blocks.from_source(source, URLS) == blocks.checked(blocks.starter(key), URLS)
            assert render_email(key, sample_context(store, URLS, key), source).subject


def test_merge_variables_render_in_any_email_and_print_nothing_when_missing(app, shop):
    text = " | ".join(variable.token for variable in MERGE_VARIABLES)
    source = blocks.to_source(document({"type": "text", "text": text}, subject="x"), URLS)
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        full = render_email("abandoned_cart/step1", sample_context(store, URLS, "abandoned_cart/step1"), source)
        empty = sample_context(store, URLS, "abandoned_cart/step1")
        empty.update(cart=None, recovery_url=None, coupon=None, customer={"first_name": None, "last_name": None,
                                                                          "email": None})
        bare = render_email("abandoned_cart/step1", empty, source)
    assert "Alex | Alex | Sample | Acme Mugs | acme.example | 3 | $43.00" in full.html
    assert "Hi there" not in bare.html and "there | " in bare.html and "None" not in bare.text


def test_hand_edited_source_that_blocks_cannot_say_is_not_read_as_blocks():
    source = blocks.to_source(document({"type": "text", "text": "Plain words"}), URLS)
    assert blocks.from_source(source.replace("Plain words", "Plain <b>bold</b> words"), URLS) is None
    assert blocks.from_source(source.replace("Plain words", "{% for i in range(3) %}x{% endfor %}"), URLS) is None
    assert blocks.from_source(source.replace("{# /block #}\n", "{# /block #}\n<p>extra</p>\n"), URLS) is None
    assert blocks.from_source(source.replace("<p>Plain words</p>", "<p>Plain words</p>\n"), URLS) is None
    assert blocks.from_source(source.replace("block:text", "block:carousel"), URLS) is None
    edited = source.replace("Plain words", "Other words &amp; more")  # edited in code, still the blocks' shape
    assert blocks.from_source(edited, URLS)["blocks"] == [{"type": "text", "text": "Other words & more"}]
    for key in template_keys("email"):
        assert blocks.from_source(default_source("email", key), URLS) is None


@pytest.mark.parametrize("body", ["{# block:text #}\n" * 18_000, "{# block:text #}\n<p>" + "x" * 240_000,
                                  "{%- endblock %}\n{% block footer_reason %}" * 5_000],
                         ids=["unclosed sections", "one long section", "false ends"])
def test_reading_a_hostile_source_is_quick(body):
    head, tail = blocks.to_source(document({"type": "divider"}), URLS).split("{# block:divider #}")
    started = time.perf_counter()
    assert blocks.from_source(head + body + "{# block:divider #}" + tail, URLS) is None
    assert time.perf_counter() - started < 0.5


def test_words_can_never_become_template_code(app, shop):
    words = "{% for x in range(9) %}loop{% endfor %} {# hidden #} {{ <script>alert(1)</script>"
    source = blocks.to_source(document({"type": "text", "text": words}), URLS)
    body = source.split("{# block:text #}\n")[1].split("\n{# /block #}")[0]
    assert "{" not in body and "<script>" not in body, body
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        html = render_email("abandoned_cart/step1", sample_context(store, URLS, "abandoned_cart/step1"), source).html
    assert "{% for x in range(9) %}loop{% endfor %} {# hidden #}" in html and "looploop" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert blocks.from_source(source, URLS)["blocks"][0]["text"] == words


@pytest.mark.parametrize("given, field, message", [
    ([], "document", "object"),
    ({"subject": "x", "blocks": "heading"}, "blocks", "list"),
    ({"subject": "x", "blocks": [], "script": 1}, "script", "Not a field"),
    (document({"type": "carousel"}), "blocks.0.type", "one of"),
    (document("heading"), "blocks.0.type", "one of"),
    (document({"type": "heading", "text": "x", "colour": "red"}), "blocks.0.colour", "no field"),
    (document({"type": "heading", "text": ""}), "blocks.0.text", "Required"),
    (document({"type": "heading", "text": 42}), "blocks.0.text", "text"),
    (document({"type": "heading", "text": ["a"]}), "blocks.0.text", "text"),
    (document({"type": "heading", "text": "nul\x00"}), "blocks.0.text", "cannot be sent"),
    (document({"type": "heading", "text": "lone \ud800 surrogate"}), "blocks.0.text", "cannot be sent"),
    (document({"type": "heading", "text": "x" * 301}), "blocks.0.text", "at most 300"),
    (document({"type": "text", "text": "x" * 5001}), "blocks.0.text", "at most 5,000"),
    (document({"type": "text", "text": "Hi {{ customer.password }}"}), "blocks.0.text", "not a merge variable"),
    (document({"type": "text", "text": "{{ ''.__class__.__mro__ }}"}), "blocks.0.text", "not a merge variable"),
    (document({"type": "button", "label": "Go", "url": "javascript:alert(1)"}), "blocks.0.url", "https"),
    (document({"type": "button", "label": "Go", "url": "http://shop.example/"}), "blocks.0.url", "https"),
    (document({"type": "button", "label": "Go", "url": 'https://x.example/"onmouseover='}), "blocks.0.url", "https"),
    (document({"type": "button", "label": "Go", "url": "{{ store.name }}"}), "blocks.0.url", "link variable"),
    (document({"type": "button", "label": "Go", "url": "https://[::1"}), "blocks.0.url", "https"),
    (document({"type": "image", "src": "{{ recovery_url }}"}), "blocks.0.src", "https"),
    (document({"type": "image", "src": "data:image/png;base64,AAAA"}), "blocks.0.src", "https"),
    (document({"type": "footer", "text": "a"}, {"type": "heading", "text": "b"}), "blocks.0.type", "last"),
    (document({"type": "divider"}, subject=""), "subject", "Required"),
    (document(*[{"type": "divider"}] * 61), "blocks", "At most 60"),
])
def test_bad_blocks_are_refused_naming_the_field(given, field, message):
    with pytest.raises(FieldError) as refused:
        blocks.to_source(given, URLS)
    assert refused.value.field == field and message in refused.value.message, (refused.value.field,
                                                                                refused.value.message)


# --- the admin's endpoints -----------------------------------------------------------------------------------------

@pytest.fixture
def marketer(app, shop):
    return logged_in(app, add_user(app, "marketer@acme.test", Role.MARKETER, [shop.store_id]))


def test_blocks_to_source_and_back_through_the_admin(app, marketer):
    token = csrf_token(marketer)
    given = document(*ONE_OF_EACH[:5])
    answer = post(marketer, "/admin/templates/blocks-to-source/email/abandoned_cart/step1",
                  {"document": json.dumps(given)}, token)
    assert answer.status_code == 200, answer.get_json()
    source = answer.get_json()["source"]
    back = post(marketer, "/admin/templates/source-to-blocks/email/abandoned_cart/step1", {"source": source}, token)
    assert back.get_json() == {"document": given}
    default = post(marketer, "/admin/templates/source-to-blocks/email/abandoned_cart/step1",
                   {"source": default_source("email", "abandoned_cart/step1")}, token)
    assert default.get_json() == {"document": None}

    saved = post(marketer, "/admin/templates/save/email/abandoned_cart/step1", {"source": source}, token)
    assert saved.status_code == 302
    page = marketer.get("/admin/templates/edit/email/abandoned_cart/step1").get_data(as_text=True)
    assert 'data-mode="visual"' in page  # opens in the visual editor again
    data = json.loads(page.split('<script type="application/json" id="editor-data">', 1)[1].split("</script>")[0])
    assert data["document"] == given
    assert {v["expression"] for v in data["variables"]} >= {"customer.first_name", "recovery_url"}
    assert [t["type"] for t in data["blockTypes"]] == list(blocks.BLOCK_TYPES)


@pytest.mark.parametrize("body, status, field", [
    ({"document": "{not json"}, 400, "document"),
    ({"document": "[" * 20_000 + "]" * 20_000}, 400, "document"),
    ({}, 400, "document"),
    ({"document": json.dumps(document({"type": "nope"}))}, 400, "blocks.0.type"),
    ({"document": json.dumps(document({"type": "heading", "text": "a\u0000b"}))}, 400, "blocks.0.text"),
    ({"document": '{"subject": "\\ud800", "blocks": []}'}, 400, "subject"),
    ({"document": json.dumps(document({"type": "text", "text": "x" * 200_000}))}, 400, "blocks.0.text"),
    ({"document": json.dumps(document({"type": "text", "text": "x" * 3_000_000}))}, 413, None),
])
def test_hostile_blocks_are_4xx_naming_the_field(app, marketer, body, status, field):
    answer = post(marketer, "/admin/templates/blocks-to-source/email/abandoned_cart/step1", body)
    assert answer.status_code == status, answer.get_data(as_text=True)[:300]
    if field:
        assert answer.get_json()["error"]["field"] == field


def test_blocks_endpoints_refuse_strangers_agents_forgeries_and_unknown_templates(app, shop, marketer):
    body = {"document": json.dumps(document({"type": "divider"}))}
    path = "/admin/templates/blocks-to-source/email/abandoned_cart/step1"
    assert app.test_client().post(path, data=body).status_code in (302, 400, 401)  # no session (and no token)
    assert marketer.post(path, data=body).status_code == 400  # no CSRF token
    agent = logged_in(app, add_user(app, "agent@acme.test", Role.AGENT, [shop.store_id]))
    assert post(agent, path, body, csrf_token(marketer)).status_code in (400, 403)
    for wrong in ("/admin/templates/blocks-to-source/email/abandoned_cart/step99",
                  "/admin/templates/blocks-to-source/sms/abandoned_cart/step1",
                  "/admin/templates/source-to-blocks/sms/abandoned_cart/step1",
                  "/admin/templates/blocks-to-source/fax/abandoned_cart/step1"):
        assert post(marketer, wrong, body).status_code == 404, wrong


def test_an_owner_of_another_store_cannot_reach_this_stores_blocks(app, make_store):
    mine = make_store("Acme Mugs", "acme.example")
    other = make_store("Other Shop", "other.example")
    owner = logged_in(app, add_user(app, "owner@other.test", Role.OWNER, [other.store_id]))
    token = csrf_token(owner)
    answer = post(owner, "/admin/templates/blocks-to-source/email/abandoned_cart/step1",
                  {"document": json.dumps(document({"type": "divider"})), "store_guard": str(mine.store_id)}, token)
    assert answer.status_code == 409  # a form of another store (the guard) is refused, never applied


def test_a_template_error_in_the_preview_names_its_line(app, marketer):
    source = '{% extends "layout.html" %}\n{% block subject %}Hi{% endblock %}\n{% block content %}\n{% if %}\n'
    answer = post(marketer, "/admin/templates/preview/email/abandoned_cart/step1", {"source": source})
    assert answer.status_code == 400
    assert answer.get_json()["error"]["line"] == 4 and "line 4" in answer.get_json()["error"]["message"]
    runtime = ('{% extends "layout.html" %}\n{% block subject %}Hi{% endblock %}\n{% block content %}\n<p>ok</p>\n'
               '{{ store.name + 1 }}\n{% endblock %}')
    answer = post(marketer, "/admin/templates/preview/email/abandoned_cart/step1", {"source": runtime})
    assert answer.status_code == 400 and answer.get_json()["error"]["line"] == 5, answer.get_json()
    saved = post(marketer, "/admin/templates/save/email/abandoned_cart/step1", {"source": source})
    assert saved.status_code == 400 and 'data-error-line="4"' in saved.get_data(as_text=True)


def test_every_sample_picture_is_served_by_the_app_as_an_image(app, shop):
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        urls = public_urls(app)
        items = sample_context(store, urls, "abandoned_cart/step1")["cart"].items
    pictures = [item.image_url for item in items]
    assert pictures and all(picture and picture.startswith(urls.base_url + "/") for picture in pictures)
    client = app.test_client()  # no login: a shopper's mail client fetches them too
    for picture in pictures:
        answer = client.get(picture[len(urls.base_url):])
        assert answer.status_code == 200 and answer.mimetype == "image/png", picture
        assert answer.data.startswith(b"\x89PNG")


def test_a_template_made_of_blocks_is_what_the_shopper_receives(app, shop, marketer, sendgrid_stub):
    app.config.update(EMAIL_PROVIDER="sendgrid", SENDGRID_API_KEY="SG.k", SENDGRID_API_HOST=sendgrid_stub.base_url)
    made = document({"type": "heading", "text": "Still thinking, {{ customer.first_name }}?"},
                    {"type": "text", "text": "Your picks are saved.\nThey will not wait forever."},
                    {"type": "items"},
                    {"type": "button", "label": "Finish my order", "url": "{{ recovery_url }}"},
                    subject="{{ customer.first_name }}, your {{ store.name }} cart", preheader="Saved for you")
    token = csrf_token(marketer)
    source = post(marketer, "/admin/templates/blocks-to-source/email/abandoned_cart/step1",
                  {"document": json.dumps(made)}, token).get_json()["source"]
    assert post(marketer, "/admin/templates/save/email/abandoned_cart/step1", {"source": source},
                token).status_code == 302

    shop.put_cart("blocks-cart", cart_body(customer={"email": "dana@example.com", "first_name": "Dana",
                                                    "email_consent": True}))
    clock.advance(timedelta(minutes=30))
    run_jobs(app)
    mails = [r.json for r in sendgrid_stub.requests if r.path == "/v3/mail/send"]
    assert len(mails) == 1
    mail = mails[0]
    assert mail["personalizations"][0]["to"][0]["email"] == "dana@example.com"
    assert mail["subject"] == "Dana, your Acme Mugs cart"
    html = next(c["value"] for c in mail["content"] if c["type"] == "text/html")
    assert "Still thinking, Dana?</h1>" in html and "Your picks are saved.<br>" in html
    assert "Finish my order</a>" in html and "/r/" in html
    assert "Saved for you" in html  # the preheader, hidden at the top of the body
    with app.app_context():
        sent = db.session.scalar(sa.select(Message).where(Message.status == "sent"))
        assert sent.subject == "Dana, your Acme Mugs cart"
