"""The send policy, checked at dispatch time (not when planning): the world may have changed since.

``decide`` returns Send, Skip(reason) or Defer(until). A skip is recorded on the message with its reason, so the
store owner sees why a shopper got nothing; a deferral keeps the message and moves its due time.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
import sqlalchemy as sa
from phonenumbers import timezone as phone_timezones

from retainful.extensions import db
from retainful.models import ABANDONED_CART, Cart, CartStatus, Customer, Message, MessageStatus, Order, Store

US_SMS_WINDOW = timedelta(hours=48)


@dataclass(frozen=True)
class Decision:
    action: str  # "send", "skip" or "defer"
    reason: str | None = None
    until: datetime | None = None


SEND = Decision("send")


def skip(reason: str) -> Decision:
    return Decision("skip", reason)


def decide(message: Message, store: Store, cart: Cart | None, customer: Customer | None, now: datetime) -> Decision:
    if store.paused:
        return skip("store_paused")
    if customer is None:
        return skip("no_customer")
    if cart is not None:
        if cart.status != CartStatus.ABANDONED:
            return skip(f"cart_{cart.status}")
        if _ordered_since(customer, cart):
            return skip("ordered")
    channel_check = _email_policy if message.channel == "email" else _sms_policy
    decision = channel_check(message, store, cart, customer, now)
    if decision.action != "send":
        return decision
    if message.kind == ABANDONED_CART and _over_frequency_cap(message, store, customer, now):
        return skip("frequency_cap")
    return SEND


def _ordered_since(customer: Customer, cart: Cart) -> bool:
    """The shopper bought since leaving this cart (maybe from another device): no reminder for it."""
    return db.session.scalar(sa.select(sa.exists().where(
        Order.customer_id == customer.id, Order.placed_at >= cart.last_activity_at))) or False


def _email_policy(message, store, cart, customer: Customer, now) -> Decision:
    if not customer.email:
        return skip("no_email")
    if customer.unsubscribed_at is not None:
        return skip("unsubscribed")
    if customer.email_suppressed_at is not None:
        return skip("suppressed")
    if customer.email_consent is False:
        return skip("no_email_consent")
    return SEND


def _sms_policy(message: Message, store: Store, cart: Cart | None, customer: Customer, now: datetime) -> Decision:
    if not customer.phone:
        return skip("no_phone")
    if customer.sms_opted_out_at is not None:
        return skip("sms_opted_out")
    if customer.sms_consent is not True:
        return skip("no_sms_consent")
    number = phonenumbers.parse(customer.phone)
    if cart is not None and phonenumbers.region_code_for_number(number) == "US":
        if cart.abandoned_at is not None and now > cart.abandoned_at + US_SMS_WINDOW:
            return skip("us_sms_window")
        if _sms_already_sent_for(cart, message):
            return skip("us_sms_limit")
    opens = next_send_window(now, recipient_timezone(number, store), store.quiet_hours_end, store.quiet_hours_start)
    if opens > now:
        return Decision("defer", "quiet_hours", opens)
    return SEND


def _sms_already_sent_for(cart: Cart, message: Message) -> bool:
    return db.session.scalar(sa.select(sa.exists().where(
        Message.cart_id == cart.id, Message.channel == "sms", Message.status == MessageStatus.SENT,
        Message.id != message.id))) or False


def recipient_timezone(number: phonenumbers.PhoneNumber, store: Store) -> ZoneInfo:
    """The phone number's zone when it has exactly one (most countries), else the store's."""
    zones = [z for z in phone_timezones.time_zones_for_number(number) if z != "Etc/Unknown"]
    return ZoneInfo(zones[0] if len(zones) == 1 else store.timezone)


def next_send_window(now: datetime, zone: ZoneInfo, opens_hour: int, closes_hour: int) -> datetime:
    """``now`` if it is inside [opens_hour, closes_hour) local time, else the next opening (UTC)."""
    local = now.astimezone(zone)
    if opens_hour <= local.hour < closes_hour:
        return now
    day = local.date() if local.hour < opens_hour else local.date() + timedelta(days=1)
    return datetime.combine(day, time(opens_hour), tzinfo=zone).astimezone(now.tzinfo)


def _over_frequency_cap(message: Message, store: Store, customer: Customer, now: datetime) -> bool:
    """One email per ``email_cap_hours`` and one SMS per ``sms_cap_hours`` across carts; one cart's steps are exempt."""
    hours = store.email_cap_hours if message.channel == "email" else store.sms_cap_hours
    if hours <= 0:
        return False
    conditions = [Message.customer_id == customer.id, Message.channel == message.channel,
                  Message.status == MessageStatus.SENT, Message.sent_at > now - timedelta(hours=hours),
                  Message.id != message.id]
    if message.cart_id is not None:
        conditions.append(sa.or_(Message.cart_id.is_(None), Message.cart_id != message.cart_id))
    return db.session.scalar(sa.select(sa.exists().where(*conditions))) or False
