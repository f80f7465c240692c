"""The one anonymisation step behind the GDPR erase and the retention purge.

Every column that can hold a shopper's personal data is cleared here, for a batch of one store's customers: the
customer row (contact data, names, shop id, locale, consent details), the outbox rows addressed to them or rendered
from their carts (recipient, subject, bodies, and the provider's error, which quotes the address), their carts'
recovery URLs (the storefront builds them and may put anything in them), the coupons bound to them and their
redemptions (email, and the sync error the shop answered with), their orders' shipment tracking (a tracking link
shows where the parcel goes), the texts of their conversations and the parts of a long text from their number still
waiting. What stays is anonymous: amounts, items, statuses
and times, so the reports stay true, and the consent events (channel, granted, a source label, a time) as evidence.
A bounce suppression outlives the address as a keyed hash (:mod:`retainful.customers.suppression`).
"""
from __future__ import annotations

import sqlalchemy as sa

from retainful.customers import suppression
from retainful.extensions import db
from retainful.messaging.outbox import cancel as cancel_pending
from retainful.models import (Cart, Conversation, ConversationMessage, Coupon, CouponRedemption, Customer,
                              InboundSmsPart, Message, MessageStatus, Order, OutgoingWebhook)

ERASED_CUSTOMER_FIELDS = dict(
    email=None, phone=None, first_name=None, last_name=None, locale=None, country=None, external_id=None,
    birthday=None, subscribed_at=None,
    email_consent=None, email_consent_at=None, email_consent_source=None,
    sms_consent=None, sms_consent_at=None, sms_consent_source=None,
    # Contact-derived state that means nothing once the address is gone (the suppression is kept hashed).
    email_suppressed_at=None, email_suppression_reason=None,
)
ERASED_MESSAGE_FIELDS = dict(recipient=None, subject=None, body_text=None, body_html=None, error=None)


def _bulk(statement) -> int:
    return db.session.execute(statement.execution_options(synchronize_session=False)).rowcount


def anonymise(store_id: int, customer_ids: list[int]) -> dict[str, int]:
    """Clear the personal data of these customers of one store and cancel what is pending for them. Returns counts;
    the caller commits. Objects already in the session are expired, so they show the cleared values."""
    counts = dict.fromkeys(("messages_cancelled", "messages_redacted", "coupons_redacted"), 0)
    if not customer_ids:
        return counts
    contacts = db.session.execute(sa.select(
        Customer.email, Customer.email_suppression_reason, Customer.email_suppressed_at).where(
        Customer.store_id == store_id, Customer.id.in_(customer_ids))).all()
    emails = {email.lower() for email, _, _ in contacts if email}
    suppression.remember([(email, reason, since) for email, reason, since in contacts if email and since])
    for customer_id in customer_ids:
        counts["messages_cancelled"] += cancel_pending(customer_id=customer_id)
    # A send in flight would have its worker write the address and content back when it records the outcome; taking
    # its lease makes that write miss (outbox.finish_many writes only where the lease still holds).
    counts["messages_cancelled"] += _bulk(sa.update(Message).where(
        Message.store_id == store_id, Message.customer_id.in_(customer_ids), Message.status == MessageStatus.SENDING)
        .values(status=MessageStatus.CANCELLED, lease_owner=None, lease_until=None))
    # Test-sends carry the customer of the cart they were rendered from (messaging/test_send.py).
    counts["messages_redacted"] = _bulk(sa.update(Message).where(
        Message.store_id == store_id, Message.customer_id.in_(customer_ids)).values(**ERASED_MESSAGE_FIELDS))
    bound = Coupon.customer_id.in_(customer_ids)
    if emails:
        bound = bound | sa.func.lower(Coupon.email).in_(emails)
    coupon_ids = sa.select(Coupon.id).where(Coupon.store_id == store_id, bound).scalar_subquery()
    redeemed_by = CouponRedemption.coupon_id.in_(coupon_ids)
    if emails:
        redeemed_by = redeemed_by | sa.func.lower(CouponRedemption.email).in_(emails)
    _bulk(sa.update(CouponRedemption).where(CouponRedemption.store_id == store_id, redeemed_by).values(email=None))
    counts["coupons_redacted"] = _bulk(sa.update(Coupon).where(
        Coupon.store_id == store_id, bound, Coupon.email.is_not(None) | Coupon.sync_error.is_not(None))
        .values(email=None, sync_error=None))
    _bulk(sa.update(Cart).where(Cart.store_id == store_id, Cart.customer_id.in_(customer_ids))
          .values(reachable=False, recovery_url=None, plugin_snapshot=None))
    # Helpdesk deliveries not yet made (or kept a while after) carry the shopper's words and contacts.
    _bulk(sa.delete(OutgoingWebhook).where(OutgoingWebhook.store_id == store_id,
                                           OutgoingWebhook.customer_id.in_(customer_ids)))
    # What they wrote in conversations (and an agent wrote back) goes; the threads' shape stays for the reports.
    _bulk(sa.update(ConversationMessage).where(ConversationMessage.store_id == store_id,
                                               ConversationMessage.conversation_id.in_(
                                                   sa.select(Conversation.id).where(
                                                       Conversation.customer_id.in_(customer_ids))))
          .values(text=""))
    phones = list(db.session.scalars(sa.select(Customer.phone).where(
        Customer.store_id == store_id, Customer.id.in_(customer_ids), Customer.phone.is_not(None))))
    if phones:  # parts of a long text still waiting for the rest (not per store: the number may text several)
        _bulk(sa.delete(InboundSmsPart).where(InboundSmsPart.sender.in_(phones)))
    _bulk(sa.update(Order).where(Order.store_id == store_id, Order.customer_id.in_(customer_ids),
                                 Order.tracking.is_not(None)).values(tracking=None))
    _bulk(sa.update(Customer).where(Customer.store_id == store_id, Customer.id.in_(customer_ids)).values(**ERASED_CUSTOMER_FIELDS))
    db.session.expire_all()  # nothing is pending: every statement above flushed the session first
    return counts
