"""What shoppers click: the short recovery link, the open pixel, the unsubscribe page and RFC 8058 one-click."""
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from retainful import clock
from retainful.extensions import db
from retainful.models import Cart, ConsentEvent, Customer
from tests.conftest import T0, cart_body, writes_locked
from tests.test_recovery_sequence import at, messages, sent


def first_email(app, shop):
    shop.put_cart("c", cart_body(customer={"email": "alice@example.com", "first_name": "Alice",
                                           "phone": "+12125550123", "sms_consent": True}))
    at(app, timedelta(minutes=30))
    (message,) = sent(app, channel="email")
    return message


def test_email_links_are_short_codes_without_personal_data(app, shop):
    message = first_email(app, shop)
    assert len(message.link_code) >= 12
    assert f"http://127.0.0.1:5000/r/{message.link_code}" in message.body_html
    assert f"http://127.0.0.1:5000/o/{message.link_code}.gif" in message.body_html
    assert "alice" not in message.link_code.lower()


def test_click_is_recorded_once_and_redirects_with_utm(app, shop, client):
    message = first_email(app, shop)
    clock.freeze(T0 + timedelta(hours=1))
    response = client.get(f"/r/{message.link_code}")
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert (target.scheme, target.netloc, target.path) == ("https", "acme.example", "/cart")
    query = parse_qs(target.query)
    assert query["utm_source"] == ["retainful"] and query["utm_medium"] == ["email"]
    assert query["utm_content"] == ["step1"]
    assert "Set-Cookie" not in response.headers  # logs nobody in
    clock.freeze(T0 + timedelta(hours=2))
    client.get(f"/r/{message.link_code}")
    (clicked,) = [m for m in messages(app) if m.id == message.id]
    assert clicked.clicked_at == T0 + timedelta(hours=1)


def test_links_still_work_while_the_database_is_locked(app, shop, client):
    """The shopper is redirected at once; the click and the open, writes, are recorded with their own times once the
    lock is gone."""
    message = first_email(app, shop)
    clock.freeze(T0 + timedelta(hours=1))
    with writes_locked(app):
        started = time.monotonic()
        response = client.get(f"/r/{message.link_code}")
        pixel = client.get(f"/o/{message.link_code}.gif")
        elapsed = time.monotonic() - started
        (locked,) = [m for m in messages(app) if m.id == message.id]
    assert response.status_code == 302 and response.headers["Location"].startswith("https://acme.example/cart?")
    assert pixel.status_code == 200 and pixel.mimetype == "image/gif"
    assert elapsed < 3 and locked.clicked_at is None and locked.opened_at is None
    clock.freeze(T0 + timedelta(hours=2))
    deadline = time.monotonic() + 15
    while (later := [m for m in messages(app) if m.id == message.id][0]).opened_at is None:
        assert time.monotonic() < deadline, "the deferred writes never landed"
        time.sleep(0.05)
    assert later.clicked_at == later.opened_at == T0 + timedelta(hours=1)
    with app.app_context():
        assert db.session.get(Cart, later.cart_id).clicked_at == T0 + timedelta(hours=1)


def test_unknown_link_is_a_friendly_404(client, app):
    for code in ("doesnotexist12", "x" * 300, "<script>"):
        response = client.get(f"/r/{code}")
        assert response.status_code == 404
        assert b"expired or does not exist" in response.data


def test_open_pixel_records_the_first_open(app, shop, client):
    message = first_email(app, shop)
    clock.freeze(T0 + timedelta(hours=1))
    response = client.get(f"/o/{message.link_code}.gif")
    assert response.status_code == 200 and response.mimetype == "image/gif"
    assert response.headers["Cache-Control"].startswith("no-store")
    clock.freeze(T0 + timedelta(hours=3))
    client.get(f"/o/{message.link_code}.gif")
    assert client.get("/o/unknowncode123.gif").status_code == 200  # never tells a scanner what exists
    (opened,) = [m for m in messages(app) if m.id == message.id]
    assert opened.opened_at == T0 + timedelta(hours=1)


def unsubscribe_path(message):
    return "/unsubscribe/" + message.body_html.split("/unsubscribe/")[1].split('"')[0]


def test_unsubscribe_page_confirms_then_stops_everything_pending(app, shop, client):
    message = first_email(app, shop)
    path = unsubscribe_path(message)
    page = client.get(path)
    assert page.status_code == 200 and b"Unsubscribe from Acme Mugs?" in page.data
    assert any(m.status == "scheduled" for m in messages(app))  # nothing happens on GET (link scanners)
    done = client.post(path)
    assert done.status_code == 200 and b"unsubscribed" in done.data
    assert not any(m.status == "scheduled" for m in messages(app))
    with app.app_context():
        customer = db.session.query(Customer).one()
        assert customer.unsubscribed_at == T0 + timedelta(minutes=30)
        assert [(e.channel, e.granted, e.source) for e in db.session.query(ConsentEvent)
                if e.source == "unsubscribe_page"] == [("email", False, "unsubscribe_page")]


def test_one_click_unsubscribe_rfc8058(app, shop, client):
    message = first_email(app, shop)
    response = client.post(unsubscribe_path(message), data="List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200  # answered in place, no redirect
    assert "Location" not in response.headers
    assert not any(m.status == "scheduled" for m in messages(app))
    at(app, timedelta(days=8))
    assert len(sent(app, channel="email")) == 1


def test_forged_or_foreign_unsubscribe_tokens_do_nothing(app, shop, client):
    first_email(app, shop)
    for token in ("WzEsMV0.forged", "not-a-token", "WzEsOTk5XQ.x"):
        assert client.post(f"/unsubscribe/{token}").status_code == 404
    assert any(m.status == "scheduled" for m in messages(app))
