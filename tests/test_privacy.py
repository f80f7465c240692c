"""Personal data after a GDPR erase and after the retention purge: every column that can hold it, checked.

The inventory below classifies every text and JSON column of the schema. A new column that it does not name fails
:func:`test_every_text_column_is_classified`, so whoever adds one decides whether erase and purge must clear it.
"""
import logging
from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa

from retainful import carts, clock, conversations
from retainful.customers.erasure import erase_customer
from retainful.extensions import db
from retainful.models import (Cart, ConsentEvent, Coupon, CouponRedemption, Customer, EmailSuppression,
                              InboundSmsPart, Message)
from tests.conftest import T0, cart_body

# Columns that can hold a shopper's personal data: cleared on the erased or purged customer's rows.
PERSONAL = {
    "customer": {"external_id", "email", "phone", "first_name", "last_name", "locale", "email_consent_source",
                 "sms_consent_source", "email_suppression_reason", "birthday", "country"},
    "cart": {"recovery_url", "plugin_snapshot"},  # the storefront builds them and may put anything in them
    "message": {"recipient", "subject", "body_text", "body_html", "error"},  # a bounce reason quotes the address
    "coupon": {"email", "sync_error"},  # the shop's answer may quote the restriction
    "coupon_redemption": {"email"},
    # What shoppers and agents wrote; the agent's name may be a person's, but it is staff's (kept as NOT_PERSONAL).
    "conversation_message": {"text"},
    "inbound_sms_part": {"sender", "text"},
    "shop_order": {"tracking"},  # a tracking link shows where the parcel goes
    "outgoing_webhook": {"data"},  # the shopper's message and contacts, for their store's helpdesk (deleted on erasure)
}
# Columns that cannot: labels, codes, amounts, random ids, hashes; and the merchant's and staff's own tables.
NOT_PERSONAL = {
    "customer": set(),
    "cart": {"token", "status", "currency", "lines"},  # a random session id and the products
    "message": {"kind", "channel", "status", "skip_reason", "lease_owner", "provider", "provider_message_id",
                "link_code", "requested_by", "dedup_key"},  # requested_by: staff not shoppers; dedup_key: kind, ids
    "coupon": {"code", "kind", "discount_type", "currency", "sync_state", "woo_coupon_id"},
    "coupon_redemption": {"order_external_id"},
    "consent_event": {"channel", "source"},  # source is a label: storefront, order, sms_stop, admin:<user id>
    "shop_order": {"external_id", "currency", "status", "coupon_codes", "attribution_rule",
                   "lines"},  # the products bought (ids, quantities, names), like a cart's lines
    "email_suppression": {"email_hash", "reason"},  # an HMAC keyed with SECRET_KEY
    "webhook_delivery": {"source", "key"},  # a provider's label and its delivery or event id
    "outgoing_webhook": {"id", "event", "last_status"},  # a random id, a label, "HTTP 500" / "timed out"
    "form_token": {"token"},  # random one-time tokens of admin forms
    # A campaign is the merchant's: its name, templates and segment filters (countries, locales, amounts), no shopper.
    "campaign": {"name", "state", "channels", "templates", "segment", "coupon_type", "pacing", "created_by"},
    # The workers' own bookkeeping (migration 0017): process ids, host names, job ids, labels, exception classes.
    "worker_heartbeat": {"worker_id", "hostname"},
    "job_run": {"worker_id", "job_id", "outcome", "error", "buckets"},
    "send_tally": {"worker_id", "channel", "provider", "outcome"},
    "conversation": {"status", "channel", "reason", "suggested_reason"},
    "conversation_message": {"direction", "channel", "author", "keyword", "provider_message_id"},
    "inbound_sms_part": {"recipient", "concat_ref", "provider_message_id"},  # our number, Vonage's ids
}
MERCHANT_TABLES = {"store", "sequence", "step", "template_version", "admin_user", "user_store", "canned_reply",
                   "experiment", "experiment_variant",  # the store's tests of its own templates
                   "login_throttle",  # staff logins: digests of the account and address tried
                   "product", "invitation"}  # invitation: staff's addresses, not shoppers'

EMAIL, PHONE = "Zebedee.Quux@Example.com", "+12025550199"
MARKERS = ("zebedee", "quux", "2025550199", "zq-77", "1983-02-17", "zqparcel")  # every form of their data
SHOPPER = {"email": EMAIL, "phone": PHONE, "first_name": "Zebedee", "last_name": "Quux", "external_id": "zq-77",
           "email_consent": True, "sms_consent": True, "locale": "en_GB", "birthday": "1983-02-17"}


def _text_columns():
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, (sa.String, sa.Text, sa.JSON)):
                yield table.name, column.name


def test_every_text_column_is_classified(app):
    with app.app_context():
        unclassified = [f"{table}.{column}" for table, column in _text_columns() if table not in MERCHANT_TABLES
                        and column not in PERSONAL.get(table, set()) | NOT_PERSONAL.get(table, {"?"})]
        assert unclassified == []


def _leftovers() -> list[str]:
    """Every value in a shopper-data column that still holds one of the shopper's markers."""
    found = []
    for table, column in _text_columns():
        if table in MERCHANT_TABLES:
            continue
        for value in db.session.execute(sa.select(db.metadata.tables[table].c[column])).scalars():
            if value is not None and any(marker in str(value).lower() for marker in MARKERS):
                found.append(f"{table}.{column}: {value!r}"[:200])
    return found


def _shopper_everywhere(shop, app) -> int:
    """A shopper with data in every personal column: carts, messages of each kind (one bounced, its error quoting
    the address), a test-send from their cart, coupons and a redemption, consent events. Returns the customer id."""
    assert shop.put_cart("zc", cart_body(customer=SHOPPER,
                                         recovery_url="https://acme.example/cart?who=zebedee")).status_code == 201
    assert shop.put_cart("zpaid", cart_body(customer={"email": EMAIL})).status_code == 201
    assert shop.post_order({"order_id": "zo-1", "cart_token": "zpaid", "customer": {"email": EMAIL}, "total": "40",
                            "currency": "USD", "status": "completed", "tracking": [{
                                "carrier": "UPS", "number": "ZQPARCEL1",
                                "url": "https://www.ups.com/track?tracknum=ZQPARCEL1"}]}).status_code == 201
    clock.advance(timedelta(hours=1))
    with app.app_context():
        carts.sweep_abandoned()
    test_send = shop.client.post("/api/v1/templates/test-send", headers=shop.headers, json={
        "channel": "email", "template": "abandoned_cart/step1", "to": "marketer@acme.example", "cart_token": "zc",
        "source": "{% block subject %}For {{ customer.first_name }}{% endblock %}{{ customer.email }}"})
    assert test_send.status_code == 200, test_send.get_json()
    with app.app_context():
        customer = db.session.scalar(sa.select(Customer).where(Customer.email == "Zebedee.Quux@example.com"))
        customer.email_suppressed_at, customer.email_suppression_reason = clock.now(), "hard bounce"
        messages = db.session.scalars(sa.select(Message).where(Message.customer_id == customer.id)).all()
        assert {m.kind for m in messages} == {"abandoned_cart", "next_order", "test"}
        for message in messages:
            if message.kind != "test":
                message.recipient = customer.email if message.channel == "email" else customer.phone
                message.subject, message.body_text = "Zebedee, your cart", f"Hi Zebedee Quux <{customer.email}>"
                message.body_html = f"<p>Hi Zebedee</p><a href='mailto:{customer.email}'>"
        bounced = next(m for m in messages if m.kind == "abandoned_cart" and m.channel == "email")
        bounced.status, bounced.error = "failed", f"bounced: 550 5.1.1 <{customer.email}>: Recipient address rejected"
        coupon = Coupon(store_id=shop.store_id, code="ZQ-REC", kind="recovery", discount_type="percent",
                        amount=Decimal(10), currency="USD", expires_at=clock.now() + timedelta(days=2),
                        email=customer.email, customer_id=customer.id, cart_id=bounced.cart_id,
                        sync_state="failed", sync_error=f"woocommerce: email {customer.email} not allowed")
        by_email = Coupon(store_id=shop.store_id, code="ZQ-NEXT", kind="next_order", discount_type="fixed",
                          amount=Decimal(5), currency="USD", expires_at=clock.now() + timedelta(days=30),
                          email=customer.email.upper())  # bound by address only
        db.session.add_all([coupon, by_email])
        db.session.flush()
        db.session.add(CouponRedemption(store_id=shop.store_id, coupon_id=coupon.id, order_external_id="zo-1",
                                        email=customer.email))
        db.session.add(InboundSmsPart(sender=customer.phone, recipient="+14155550100", concat_ref="1", part=1,
                                      total=2, text="I am Zebedee Quux and", provider_message_id="p1"))
        db.session.commit()
        conversations.receive(customer, "sms", "I am Zebedee Quux, call me at +1 202 555 0199")
        assert db.session.scalar(sa.select(sa.func.count(ConsentEvent.id)).where(
            ConsentEvent.customer_id == customer.id)) == 2
        assert len(_leftovers()) > 15  # the markers are really everywhere before
        return customer.id


def _bystander(make_store, shop):
    """Another shopper of the store, and the same address in another store: neither may lose anything."""
    shop.put_cart("other", cart_body(customer={"email": "ursula@example.com", "first_name": "Ursula"}))
    elsewhere = make_store(name="Other", domain="other.example")
    elsewhere.put_cart("zc", cart_body(customer={"email": EMAIL, "first_name": "Zebedee"},
                                       recovery_url="https://other.example/cart"))
    return elsewhere


def _assert_bystanders_kept(elsewhere):
    emails = set(db.session.scalars(sa.select(Customer.email).where(Customer.email.is_not(None))))
    assert {"ursula@example.com", "Zebedee.Quux@example.com"} <= emails
    other = db.session.scalar(sa.select(Customer).where(Customer.store_id == elsewhere.store_id))
    assert other.email_suppressed_at is None  # a bounce is not invented elsewhere by an erase


def _assert_suppression_survives(shop):
    """The bounced address reported again is a new customer, suppressed without anyone keeping the address."""
    assert shop.put_cart("back", cart_body(customer={"email": "zebedee.quux@EXAMPLE.com"})).status_code == 201
    back = db.session.scalar(sa.select(Customer).where(Customer.store_id == shop.store_id,
                                                       Customer.email == "zebedee.quux@example.com"))
    assert back.email_suppressed_at == T0 + timedelta(hours=1) and back.email_suppression_reason == "hard bounce"
    hashes = db.session.scalars(sa.select(EmailSuppression.email_hash)).all()
    assert len(hashes) == 1 and len(hashes[0]) == 64 and not any(m in hashes[0] for m in MARKERS)


def test_erase_clears_every_personal_column(shop, make_store, app):
    customer_id = _shopper_everywhere(shop, app)
    elsewhere = _bystander(make_store, shop)
    with app.app_context():
        counts = erase_customer(db.session.get(Customer, customer_id))
        assert counts["messages_redacted"] >= 7 and counts["coupons_redacted"] >= 2
        assert counts["messages_cancelled"] >= 5  # the rest of the sequence
        assert sorted(_leftovers()) == ["customer.email: 'Zebedee.Quux@example.com'",
                                        "customer.first_name: 'Zebedee'"]  # the other store's Zebedee only
        customer = db.session.get(Customer, customer_id)
        assert all(getattr(customer, column) is None for column in PERSONAL["customer"])
        messages = db.session.scalars(sa.select(Message).where(Message.customer_id == customer_id)).all()
        assert all(getattr(m, c) is None for m in messages for c in PERSONAL["message"])
        assert not [m for m in messages if m.status in ("scheduled", "sending")]
        theirs = db.session.scalars(sa.select(Cart).where(Cart.customer_id == customer_id)).all()
        assert len(theirs) == 2 and all(c.recovery_url is None and not c.reachable for c in theirs)
        assert db.session.scalar(sa.select(sa.func.count(ConsentEvent.id)).where(
            ConsentEvent.customer_id == customer_id)) == 2  # evidence, without personal data
        _assert_bystanders_kept(elsewhere)
        _assert_suppression_survives(shop)


def test_a_send_in_flight_during_the_erase_does_not_write_the_address_back(shop, app):
    from retainful.messaging import outbox

    shop.put_cart("zc", cart_body(customer=SHOPPER))
    clock.advance(timedelta(minutes=45))
    with app.app_context():
        carts.sweep_abandoned()
        owner, (claimed, *_) = outbox.claim(1, timedelta(minutes=5))
        customer_id = db.session.get(Message, claimed).customer_id
        erase_customer(db.session.get(Customer, customer_id))
        outbox.finish_many([outbox.Outcome(claimed, owner, "sent", {
            "status": "sent", "sent_at": clock.now(), "recipient": "Zebedee.Quux@example.com",
            "subject": "Zebedee, your cart", "body_text": "Hi Zebedee", "body_html": "<p>Hi Zebedee</p>"})])
        db.session.expire_all()
        message = db.session.get(Message, claimed)
        assert (message.status, message.recipient, message.subject, message.body_text) == (
            "cancelled", None, None, None)
        assert _leftovers() == []


def test_purge_past_retention_clears_every_personal_column(shop, make_store, app):
    customer_id = _shopper_everywhere(shop, app)
    clock.advance(timedelta(days=731))  # the shopper has ordered: kept customer_retention_days, not retention_days
    elsewhere = _bystander(make_store, shop)
    with app.app_context():
        untied = Message(store_id=shop.store_id, kind="test", channel="email", status="sent", due_at=clock.now(),
                         recipient="marketer@acme.example", body_text="recent, no cart")
        db.session.add(untied)
        db.session.commit()
        counts = carts.purge_expired()
        assert counts["customers_anonymised"] == 1 and counts["carts"] == 2
        assert sorted(_leftovers()) == ["customer.email: 'Zebedee.Quux@example.com'",
                                        "customer.first_name: 'Zebedee'"]  # the other store's Zebedee only
        customer = db.session.get(Customer, customer_id)
        assert all(getattr(customer, column) is None for column in PERSONAL["customer"])
        assert all(getattr(m, c) is None for m in db.session.scalars(sa.select(Message).where(
            Message.customer_id == customer_id)) for c in PERSONAL["message"])
        tests = db.session.scalars(sa.select(Message.body_text).where(Message.kind == "test")).all()
        assert tests == ["recent, no cart"]  # the old test-send went; the recent one stays until its time
        _assert_bystanders_kept(elsewhere)
        _assert_suppression_survives(shop)


# --- personal data in logs (F13) ------------------------------------------------------------------------------------

ADDRESSES = ("zebedee.quux@example.com", "zebedee.quux%40example.com", "2025550199")


def _assert_no_address(caplog):
    logged = caplog.text.lower() + " ".join(r.getMessage() for r in caplog.records).lower()
    assert not [a for a in ADDRESSES if a in logged], caplog.text


def test_a_database_error_logs_no_parameters_and_no_address(shop, app, caplog):
    """A driver error while storing a shopper (PostgreSQL's answer to a NUL byte, say) is logged in full as a bug:
    the logged error names the statement, never the bound values."""
    caplog.set_level(logging.DEBUG)
    with app.app_context():
        engine, dbapi = db.engine, db.engine.dialect.loaded_dbapi

    def refused(cursor, statement, parameters, context):  # the driver's own error, as SQLAlchemy wraps it
        if statement.startswith("INSERT INTO customer"):
            raise dbapi.DataError("text fields cannot contain NUL")

    sa.event.listen(engine, "do_execute", refused)
    try:
        response = shop.put_cart("zc", cart_body(customer=SHOPPER))
    finally:
        sa.event.remove(engine, "do_execute", refused)
    assert response.status_code == 500 and "INSERT INTO customer" in caplog.text
    assert "SQL parameters hidden" in caplog.text and "Zebedee" not in caplog.text
    _assert_no_address(caplog)


def test_a_provider_error_quoting_the_address_is_logged_masked(shop, app, caplog, sendgrid_stub):
    from retainful.messaging.dispatch import Dispatcher

    caplog.set_level(logging.DEBUG)
    app.config.update(EMAIL_PROVIDER="sendgrid", SENDGRID_API_KEY="SG.k", SENDGRID_API_HOST=sendgrid_stub.base_url)
    app.extensions.pop("retainful.providers", None)
    shop.put_cart("zc", cart_body(customer=SHOPPER))
    sendgrid_stub.queue.append((400, {}, b'{"errors": [{"message": "Invalid to: zebedee.quux@example.com, '
                                          b'+1 (202) 555-0199"}]}'))
    clock.advance(timedelta(minutes=45))
    with app.app_context():
        carts.sweep_abandoned()
        Dispatcher(app).run_due()
        failed = db.session.scalar(sa.select(Message).where(Message.status == "failed"))
        assert "zebedee.quux@example.com" in failed.error  # the admin still shows the provider's reason
    assert f"message {failed.id} failed" in caplog.text and "[email]" in caplog.text and "[phone]" in caplog.text
    _assert_no_address(caplog)


def test_every_log_line_masks_emails_phones_and_query_strings(app, caplog):
    """Whatever logger writes it (a WSGI server's request line, a library's warning, a traceback)."""
    caplog.set_level(logging.DEBUG)
    logging.getLogger("werkzeug").info('127.0.0.1 - - "%s" 200 -',
                                       "GET /api/v1/coupons/RT-X?email=zebedee.quux%40example.com&subtotal=5 HTTP/1.1")
    logging.getLogger("anything").warning("to %s / %s / %r", "Zebedee.Quux@example.com", "+12025550199",
                                          {"phone": "(202) 555-0199", "msisdn": "12025550199"})
    logging.getLogger("anything").info("also +1 (202) 555-0199, +44 20 7946 0958 and zebedée@exämple.com")
    try:
        raise ValueError("no such customer zebedee.quux@example.com")
    except ValueError:
        logging.getLogger("anything").exception("lookup failed")
    _assert_no_address(caplog)
    assert "GET /api/v1/coupons/RT-X?[query] HTTP/1.1" in caplog.text and "ValueError" in caplog.text
    assert caplog.records[1].getMessage() == "to [email] / [phone] / {'phone': '[phone]', 'msisdn': '[phone]'}"
    assert caplog.records[2].getMessage() == "also [phone], [phone] and [email]"
