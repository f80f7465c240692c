"""Everything the service holds about one customer, as plain JSON-ready data (GDPR access and portability)."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from retainful import clock
from retainful.extensions import db
from retainful.models import Cart, Coupon, Customer, Message, Order, Store
from retainful.models.cart import LINE_FIELDS

CUSTOMER_FIELDS = (
    "id", "external_id", "email", "phone", "first_name", "last_name", "locale",
    "email_consent", "email_consent_at", "email_consent_source", "sms_consent", "sms_consent_at", "sms_consent_source",
    "unsubscribed_at", "sms_opted_out_at", "email_suppressed_at", "email_suppression_reason", "last_order_at",
    "last_seen_at", "created_at",
)
CART_FIELDS = ("id", "token", "status", "currency", "subtotal", "total", "item_count", "recovery_url", "reachable",
               "last_activity_at", "abandoned_at", "closed_at", "created_at")
ORDER_FIELDS = ("id", "external_id", "cart_id", "total", "currency", "status", "coupon_codes",
                "attributed_message_id", "attribution_rule", "placed_at", "received_at")
MESSAGE_FIELDS = ("id", "cart_id", "kind", "channel", "status", "skip_reason", "due_at", "sent_at", "opened_at",
                  "clicked_at", "delivered_at", "bounced_at", "recipient", "subject", "body_text", "body_html",
                  "created_at")
COUPON_FIELDS = ("id", "code", "kind", "discount_type", "amount", "currency", "minimum_total", "expires_at",
                 "usage_limit", "usage_count", "email", "cart_id", "order_id", "created_at")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _fields(row: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: _plain(getattr(row, name)) for name in names}


def export_customer(customer: Customer) -> dict[str, Any]:
    """The customer's profile and consent history, carts with items, orders, messages as sent, and coupons."""
    store = db.session.get(Store, customer.store_id)
    carts = db.session.scalars(sa.select(Cart).where(Cart.customer_id == customer.id).order_by(Cart.id))
    orders = db.session.scalars(sa.select(Order).where(Order.customer_id == customer.id).order_by(Order.id))
    messages = db.session.scalars(sa.select(Message).where(Message.customer_id == customer.id).order_by(Message.id))
    coupons = db.session.scalars(sa.select(Coupon).where(Coupon.customer_id == customer.id).order_by(Coupon.id))
    return {
        "exported_at": clock.now().isoformat(),
        "store": {"id": store.id, "name": store.name, "domain": store.domain},
        "customer": _fields(customer, CUSTOMER_FIELDS),
        "consent_events": [{"channel": e.channel, "granted": e.granted, "source": e.source, "at": _plain(e.at)}
                           for e in customer.consent_events],
        "carts": [{**_fields(cart, CART_FIELDS), "items": [_fields(item, LINE_FIELDS) for item in cart.items]}
                  for cart in carts],
        "orders": [_fields(order, ORDER_FIELDS) for order in orders],
        "messages": [_fields(message, MESSAGE_FIELDS) for message in messages],
        "coupons": [_fields(coupon, COUPON_FIELDS) for coupon in coupons],
    }
