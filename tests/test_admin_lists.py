"""Honest lists: who each message is (or will be) for, CSV money with the currency's decimals, counts in words."""
from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import sqlalchemy as sa

from retainful import clock
from retainful.extensions import db
from retainful.models import Message, MessageStatus, Role
from retainful.plurals import counted
from tests.conftest import cart_body
from tests.test_admin import add_user, logged_in, text
from tests.test_recovery_sequence import run_jobs

CAROL = {"email": "carol@acme.example", "phone": "+12125550123", "first_name": "Carol", "last_name": "Jones",
         "email_consent": True, "sms_consent": True}


def _abandon_with_scheduled_sms(app, shop):
    """Carol leaves her cart at 4 a.m. in New York: the email goes, the SMS waits for the morning (scheduled)."""
    shop.put_cart("c3", cart_body(recovery_url="https://acme.example/cart", customer=CAROL))
    clock.advance(timedelta(minutes=30))
    run_jobs(app)
    with app.app_context():
        scheduled = db.session.scalar(sa.select(Message).where(Message.channel == "sms",
                                                               Message.status == MessageStatus.SCHEDULED))
        assert scheduled is not None and scheduled.recipient is None  # nothing rendered yet
        return scheduled.id, scheduled.cart_id


def test_a_scheduled_message_shows_whom_it_is_for(app, shop):
    message_id, cart_id = _abandon_with_scheduled_sms(app, shop)
    owner = logged_in(app, add_user(app, "owner@acme.test", Role.OWNER, [shop.store_id]))
    listing = text(owner.get("/admin/messages/?status=scheduled"))
    row = re.search(rf'data-message-id="{message_id}".*?</tr>', listing, re.S).group(0)
    assert "Carol Jones &lt;+12125550123&gt;" in row
    sent = text(owner.get("/admin/messages/?status=sent"))
    assert "Carol Jones &lt;carol@acme.example&gt;" in sent
    page = text(owner.get(f"/admin/messages/{message_id}"))
    assert re.search(r'id="message-recipient">Carol Jones &lt;\+12125550123&gt;<', page)
    timeline = text(owner.get(f"/admin/carts/{cart_id}"))
    assert "Due step 1 SMS for Carol Jones &lt;+12125550123&gt;" in timeline
    assert "Sent step 1 email to Carol Jones &lt;carol@acme.example&gt;" in timeline


def _daily_csv_rows(client, path, **kwargs):
    response = client.get(path, **kwargs)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def _order(store, order_id, total, currency):
    placed = store.post_order({"order_id": order_id, "total": total, "currency": currency, "status": "processing",
                               "customer": {"email": f"{order_id}@example.com"}})
    assert placed.status_code == 201, placed.get_json()


def test_csv_money_has_the_currency_decimals(app, make_store):
    dollars = make_store("Dollar Mugs", "dollars.example", currency="USD")
    won = make_store("Won Mugs", "won.example", currency="KRW")
    _order(dollars, "d-1", "43", "USD")
    _order(dollars, "d-2", "0.5", "USD")
    _order(won, "w-1", "43000", "KRW")
    today = clock.now().date().isoformat()
    usd = _daily_csv_rows(dollars.client, f"/api/v1/reports/daily.csv?from={today}&to={today}",
                          headers=dollars.headers)
    assert (usd[0]["revenue"], usd[0]["recovered_revenue"]) == ("43.50", "0.00")
    krw = _daily_csv_rows(won.client, f"/api/v1/reports/daily.csv?from={today}&to={today}", headers=won.headers)
    assert (krw[0]["revenue"], krw[0]["recovered_revenue"]) == ("43000", "0")
    owner = logged_in(app, add_user(app, "owner@won.test", Role.OWNER, [won.store_id]))
    admin_rows = _daily_csv_rows(owner, f"/admin/reports/daily.csv?from={today}&to={today}")
    assert admin_rows[0]["revenue"] == "43000"


def test_counts_read_as_words():
    assert [counted(1, "days"), counted(2, "days"), counted(1, "hours"), counted(0, "minutes")] \
        == ["1 day", "2 days", "1 hour", "0 minutes"]


def test_pages_say_1_day_and_1_row(app, shop):
    owner = logged_in(app, add_user(app, "owner@acme.test", Role.OWNER, [shop.store_id]))
    shop.put_cart("c1", cart_body(recovery_url="https://acme.example/cart"))
    listing = text(owner.get("/admin/carts/"))
    assert re.search(r'id="row-count">1 row<', listing)
    clock.advance(timedelta(days=1))  # one day after the store (and recovery) started
    dashboard = text(logged_in(app, add_user(app, "later@acme.test", Role.OWNER, [shop.store_id])).get("/admin/"))
    assert "(1 day each side" in dashboard and "1 days" not in dashboard
    assert "1 cart created" in dashboard
