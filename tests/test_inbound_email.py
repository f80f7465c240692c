"""Replies by email: every email we send carries an unforgeable Reply-To address; SendGrid Inbound Parse posts the
shopper's reply (multipart/form-data, real-shaped Gmail, Outlook and Apple Mail bodies) to our secret path; it lands,
without its quoted history, in the customer's conversation; an agent's answer goes back by email with the store's
sender and the same Reply-To. On both databases, with the hostile posts a public endpoint gets."""
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from retainful import carts, clock, conversations
from retainful.conversations.inbound_email import reply_address, strip_quoted
from retainful.extensions import db
from retainful.messaging.providers.base import OutgoingEmail
from retainful.messaging.providers.sendgrid import build_mail
from retainful.models import Conversation, Customer, Store
from tests.conftest import T0, cart_body
from tests.test_conversations_inbound import outbox_to  # noqa: F401 (the fixture)

TOKEN = "inbound-7QkV2mZp9xT4wL"
DOMAIN = "reply.acme-mail.example"
URL = f"/webhooks/sendgrid/inbound/{TOKEN}"
FORM = "multipart/form-data"  # as Inbound Parse posts

GMAIL = """Yes please, can you hold it until Friday?

On Mon, Mar 2, 2026 at 9:30 AM Acme Mugs <{address}> wrote:

> Hi Alice,
>
> You left something in your cart: Red mug (2).
> Return to your cart (https://acme.example/cart)
"""
GMAIL_WRAPPED = """Thanks, ordered!

On Mon, Mar 2, 2026 at 9:30 AM Acme Mugs <
{address}> wrote:

> Hi Alice,
"""
OUTLOOK = """The coupon code did not work at checkout.

Alice

________________________________
From: Acme Mugs <no-reply@acme.example>
Sent: Monday, March 2, 2026 9:30 AM
To: Alice Doe <alice@example.com>
Subject: You left something behind

Hi Alice,
You left something in your cart.
"""
OUTLOOK_DESKTOP = """Do you ship to Canada?

-----Original Message-----
From: Acme Mugs [mailto:{address}]
Sent: Monday, March 2, 2026 9:30 AM
Subject: You left something behind
"""
APPLE = """Is shipping free over $30?

Sent from my iPhone

> On 2 Mar 2026, at 09:30, Acme Mugs <{address}> wrote:
>
> Hi Alice,
"""


@pytest.fixture
def inbound_email(app):
    app.config.update(SENDGRID_INBOUND_TOKEN=TOKEN, REPLY_DOMAIN=DOMAIN)


def parse_post(address, text, *, sender="Alice Doe <alice@example.com>", message_id="<CAF=abc123@mail.gmail.com>",
               **extra):
    """The fields SendGrid Inbound Parse posts (raw, not the "send raw MIME" variant)."""
    headers = (f"Received: by mx0047p1mdw1.sendgrid.net with SMTP id 6WCVv7KAWn Mon, 02 Mar 2026 10:02:13 +0000\n"
               f"From: {sender}\nTo: {address}\nSubject: Re: You left something behind\n"
               + (f"Message-ID: {message_id}\n" if message_id else "") + "Content-Type: multipart/alternative;\n")
    fields = {"headers": headers, "dkim": "{@example.com : pass}", "content-ids": "{}", "to": address,
              "from": sender, "text": text, "html": "", "sender_ip": "209.85.220.41", "SPF": "pass",
              "envelope": json.dumps({"to": [address.split("<")[-1].rstrip(">")],
                                      "from": sender.split("<")[-1].rstrip(">")}),
              "attachments": "0", "subject": "Re: You left something behind",
              "charsets": json.dumps({"to": "UTF-8", "html": "UTF-8", "subject": "UTF-8", "from": "UTF-8",
                                      "text": "UTF-8"})}
    fields.update(extra)
    return fields


def multipart(fields: dict[str, bytes | str], boundary="xYzZY"):
    """A multipart/form-data body built by hand, so a field can carry bytes that are not UTF-8."""
    body = b""
    for name, value in fields.items():
        value = value if isinstance(value, bytes) else value.encode()
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").encode() + value + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def emailed(app, shop, outbox_to):
    """Alice abandons a cart and gets step 1 by email: its Reply-To address."""
    shop.put_cart("c", cart_body())
    clock.freeze(T0 + timedelta(minutes=30))
    with app.app_context():
        carts.sweep_abandoned()
    [email] = outbox_to().emails
    return email


def threads(app):
    with app.app_context():
        return [conversations.as_json(c, messages=True)
                for c in db.session.scalars(sa.select(Conversation).order_by(Conversation.id))]


def test_every_email_keeps_the_stores_sender_and_gets_the_customers_reply_to(app, shop, outbox_to, inbound_email):
    email = emailed(app, shop, outbox_to)
    with app.app_context():
        customer = db.session.query(Customer).one()
    assert email.from_email == "no-reply@acme.example" and email.from_name == "Acme Mugs"
    assert email.reply_to == reply_address(app.config["SECRET_KEY"], DOMAIN, customer.id)
    assert email.reply_to.endswith("@" + DOMAIN) and str(customer.id) not in email.reply_to.split("-")[-1]
    body = build_mail(email).get()
    assert body["reply_to"] == {"email": email.reply_to} and body["from"]["email"] == "no-reply@acme.example"


def test_without_a_reply_domain_emails_have_no_reply_to(app, shop, outbox_to):
    assert emailed(app, shop, outbox_to).reply_to is None
    plain = OutgoingEmail(message_id=1, to_email="a@example.com", to_name=None, from_email="s@acme.example",
                          from_name="Acme", subject="s", html="<p>h</p>", text="h", unsubscribe_url="https://u")
    assert "reply_to" not in build_mail(plain).get()


@pytest.mark.parametrize("body,expected", [
    (GMAIL, "Yes please, can you hold it until Friday?"),
    (GMAIL_WRAPPED, "Thanks, ordered!"),
    (OUTLOOK, "The coupon code did not work at checkout.\n\nAlice"),
    (OUTLOOK_DESKTOP, "Do you ship to Canada?"),
    (APPLE, "Is shipping free over $30?\n\nSent from my iPhone"),
])
def test_a_reply_lands_in_the_conversation_without_its_quoted_history(app, shop, client, outbox_to, inbound_email,
                                                                     body, expected):
    address = emailed(app, shop, outbox_to).reply_to
    response = client.post(URL, content_type=FORM, data=parse_post(address, body.format(address=address)))
    assert response.status_code == 200 and response.get_json() == {"recorded": 1, "unmatched": 0}
    [conversation] = threads(app)
    assert conversation["channel"] == "email" and conversation["status"] == "open"
    assert [(m["direction"], m["text"]) for m in conversation["messages"]] == [("inbound", expected)]


def test_an_html_only_reply_loses_its_quoted_block(app, shop, client, outbox_to, inbound_email):
    address = emailed(app, shop, outbox_to).reply_to
    html = ('<div dir="ltr">Can I pay by <b>PayPal</b>?</div><br><div class="gmail_quote"><div dir="ltr" '
            'class="gmail_attr">On Mon, Mar 2, 2026 wrote:<br></div><blockquote>Hi Alice</blockquote></div>')
    client.post(URL, content_type=FORM, data=parse_post(address, "", html=html))
    assert [m["text"] for m in threads(app)[0]["messages"]] == ["Can I pay by PayPal?"]


def test_an_agents_email_reply_goes_back_with_the_same_reply_to(app, shop, client, outbox_to, inbound_email):
    address = emailed(app, shop, outbox_to).reply_to
    client.post(URL, content_type=FORM, data=parse_post(address, GMAIL.format(address=address)))
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        store.persona_name, store.persona_signature = "Sarah from Acme", "Acme Mugs\nHandmade in Leeds"
        db.session.commit()
        conversations.reply(db.session.query(Conversation).one(),
                            "Of course! <script>alert(1)</script>\n\nIt's yours until Friday.")
    [_, answer] = outbox_to().emails
    assert answer.to_email == "alice@example.com" and answer.from_email == "no-reply@acme.example"
    assert answer.reply_to == address and answer.subject == "Re: your message to Acme Mugs"
    assert "Of course!" in answer.text and "It's yours until Friday." in answer.text
    assert "Sarah from Acme" in answer.text and "Handmade in Leeds" in answer.text
    assert "<script>" not in answer.html and "&lt;script&gt;" in answer.html  # the agent's text is text
    assert outbox_to().emails[1:] == [answer]  # once


def test_refused_without_the_token(app, shop, client, outbox_to):
    address = emailed(app, shop, outbox_to).reply_to or "r-1-aaaaaaaaaaaaaaaaaaaaaaaaaa@" + DOMAIN
    response = client.post(URL, content_type=FORM, data=parse_post(address, "hi"))
    assert response.status_code == 401 and "not configured" in response.get_json()["error"]["message"]
    app.config["SENDGRID_INBOUND_TOKEN"] = TOKEN
    for wrong in (TOKEN[:-1], TOKEN + "x", TOKEN.upper(), "ä", "%00"):
        assert client.post(f"/webhooks/sendgrid/inbound/{wrong}", data=parse_post(address, "hi")).status_code == 401
    assert client.get(URL).status_code == 405
    assert threads(app) == []


def test_forged_unknown_and_replayed_posts(app, shop, make_store, client, outbox_to, inbound_email):
    address = emailed(app, shop, outbox_to).reply_to
    local, _, domain = address.partition("@")
    prefix, customer_hex, mac = local.split("-")
    other_customer = f"{prefix}-{int(customer_hex, 16) + 1:x}-{mac}@{domain}"  # another id, the same MAC
    flipped = f"{prefix}-{customer_hex}-{'a' if mac[0] != 'a' else 'b'}{mac[1:]}@{domain}"
    for forged in (other_customer, flipped, f"{local}@other-domain.example", "r-1-123@" + DOMAIN,
                   "orders@acme.example"):
        response = client.post(URL, content_type=FORM, data=parse_post(forged, "I'm the shopper, honest"))
        assert response.status_code == 200 and response.get_json() == {"recorded": 0, "unmatched": 1}
    def recorded(to, text):
        return client.post(URL, content_type=FORM, data=parse_post(to, text)).get_json()["recorded"]

    assert recorded(address.upper(), "Hello") == 1  # case-folded
    assert recorded(address, "Hello") == 0  # replayed
    no_id = parse_post(address, "Second message", message_id=None)
    assert client.post(URL, content_type=FORM, data=no_id).get_json()["recorded"] == 1
    assert client.post(URL, content_type=FORM, data=no_id).get_json()["recorded"] == 0  # replayed without a Message-ID
    assert [m["text"] for m in threads(app)[0]["messages"]] == ["Hello", "Second message"]


def test_hostile_bodies_are_4xx_or_stored_safely(app, shop, client, outbox_to, inbound_email):
    address = emailed(app, shop, outbox_to).reply_to
    assert client.post(URL, data={"text": "hi"}).status_code == 400  # no recipient
    urlencoded = client.post(URL, data=parse_post(address, "Prix en € ?", message_id="<u@x>"))
    assert urlencoded.status_code == 200 and urlencoded.get_json()["recorded"] == 1  # not multipart: still read
    assert client.post(URL, content_type=FORM, data=parse_post(address, "hi", envelope="{nope")).status_code == 400
    assert client.post(URL, content_type=FORM, data=parse_post(address, "hi", envelope="[1]")).status_code == 400
    no_sender = client.post(URL, content_type=FORM,
                            data=parse_post(address, "hi", sender="", envelope=json.dumps({"to": [address]})))
    assert no_sender.status_code == 400 and "from" in no_sender.get_json()["error"]["message"]
    assert client.post(URL, data=b"not a form", content_type="text/plain").status_code == 400
    huge, content_type = multipart({**parse_post(address, "x"), "text": b"y" * (21 * 1024 * 1024)})
    assert client.post(URL, data=huge, content_type=content_type).status_code == 413
    big_field, content_type = multipart({**parse_post(address, "x"), "html": b"<p>" * (2 * 1024 * 1024)})
    assert client.post(URL, data=big_field, content_type=content_type).status_code == 413
    fields = parse_post(address, "", message_id="<hostile@x>")
    hostile, content_type = multipart({**fields, "text": "Nul\x00byte and a lone ".encode() + b"\xed\xa0\x80 here"})
    response = client.post(URL, data=hostile, content_type=content_type)
    assert response.status_code == 200 and response.get_json()["recorded"] == 1
    text = threads(app)[0]["messages"][-1]["text"]
    assert threads(app)[0]["messages"][0]["text"] == "Prix en € ?"
    assert "\x00" not in text and text.startswith("Nul\ufffdbyte and a lone ") and text.endswith(" here")


def test_each_field_is_read_in_the_charset_inbound_parse_names(app, shop, client, outbox_to, inbound_email):
    address = emailed(app, shop, outbox_to).reply_to
    fields = parse_post(address, "", charsets=json.dumps({"text": "windows-1252", "subject": "iso-8859-1",
                                                          "from": "UTF-8", "to": "UTF-8", "html": "bogus-charset"}))
    body, content_type = multipart({**fields, "text": "Ça coûte 5 € de port?".encode("cp1252"),
                                    "from": "Zoë <zoe@example.com>".encode()})
    assert client.post(URL, data=body, content_type=content_type).get_json()["recorded"] == 1
    assert [m["text"] for m in threads(app)[0]["messages"]] == ["Ça coûte 5 € de port?"]
    plain, content_type = multipart({**parse_post(address, "", message_id="<2@x>"), "charsets": "not json",
                                     "text": "naïve".encode()})
    assert client.post(URL, data=plain, content_type=content_type).get_json()["recorded"] == 1
    assert threads(app)[0]["messages"][-1]["text"] == "naïve"  # UTF-8 when the post does not say


def test_the_quote_stripper_keeps_a_reply_that_is_all_quote():
    assert strip_quoted("> only a quote") == "> only a quote"  # nothing is lost
    assert strip_quoted("Fine.\n-- \nAlice Doe\n+1 212 555 0123") == "Fine."
    assert strip_quoted("Am Mo., 2. März 2026 um 09:30 Uhr schrieb Acme Mugs <x@y.z>:\n> Hallo") != ""
    assert strip_quoted("Danke!\n\nAm Mo., 2. März 2026 um 09:30 Uhr schrieb Acme Mugs <x@y.z>:\n> Hallo") == "Danke!"
    # Linear time on hostile input: a long line of almost-attributions.
    assert strip_quoted("On " * 100_000)
