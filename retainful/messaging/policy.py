"""The send policy, checked at dispatch time (not when planning): the world may have changed since.

``decide`` returns Send, Skip(reason) or Defer(until). A skip is recorded on the message with its reason, so the
store owner sees why a shopper got nothing; a deferral keeps the message and moves its due time.
What the policy needs to know about other messages and orders is read once per claimed batch (:class:`History`), with
the decisions to send that are not recorded yet, so two messages of one run cannot both slip under a cap.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
import sqlalchemy as sa

from retainful.automations import registry
from retainful.channels import CHANNELS, channel as channel_named
from retainful.extensions import db
from retainful.models import (TEST_SEND, Cart, Conversation, ConversationStatus, Customer, Message, MessageStatus,
                              Order, Store)

US_SMS_WINDOW = timedelta(hours=48)
_US_CART_LIMITED = [c.name for c in CHANNELS.values() if c.one_text_per_us_cart]


def _uncounted_kinds() -> list[str]:
    """Kinds whose sends the frequency caps do not count (a conversation's replies and confirmations)."""
    return [kind for kind in registry.all_kinds() if not registry.get(kind).counts_toward_caps]


def paused_kinds() -> list[str]:
    """The kinds an open conversation holds: every kind that is not transactional (campaigns too)."""
    return [kind for kind in registry.all_kinds()
            if registry.get(kind).paused_by_conversation and not registry.get(kind).transactional]


@dataclass(frozen=True)
class Decision:
    action: str  # "send", "skip" or "defer"
    reason: str | None = None
    until: datetime | None = None


SEND = Decision("send")


def skip(reason: str) -> Decision:
    return Decision("skip", reason)


@dataclass(frozen=True)
class Send:
    """A decision to send, as the caps and the US SMS rule need to know it."""

    customer_id: int | None
    channel: str
    cart_id: int | None
    at: datetime
    kind: str | None = None


@dataclass
class History:
    """Orders and earlier sends of the customers and carts in one batch: the facts behind "ordered", the US SMS limit
    and the frequency caps. Read from the database for each batch, plus the sends already decided whose outcomes
    may not be written yet (``pending``) and the batch's own, so two messages of one run never both slip under a cap.
    Nothing is kept from batch to batch: a run draining a big backlog holds no more than one batch's facts."""

    last_order_at: dict[int, datetime] = field(default_factory=dict)  # customer id -> latest order
    carts_with_sms: set[int] = field(default_factory=set)  # carts that already got an SMS
    recent_sends: dict[tuple[int, str], list[tuple[int | None, datetime]]] = field(
        default_factory=lambda: defaultdict(list))  # (customer id, channel) -> [(cart id, sent at)]
    conversation_opened_at: dict[int, datetime] = field(default_factory=dict)  # customer id -> open conversation's

    @classmethod
    def load(cls, messages: list[Message], stores: dict[int, Store], now: datetime,
             pending: Iterable[Send] = ()) -> History:
        """The facts about these messages' customers and carts, in a few statements for the whole batch."""
        history = cls()
        customer_ids = {m.customer_id for m in messages if m.customer_id is not None}
        if customer_ids:
            history.last_order_at = dict(db.session.execute(
                sa.select(Order.customer_id, sa.func.max(Order.placed_at))
                .where(Order.customer_id.in_(customer_ids)).group_by(Order.customer_id)).all())
        sms_carts = {m.cart_id for m in messages
                     if channel_named(m.channel).one_text_per_us_cart and m.cart_id is not None}
        if sms_carts:
            history.carts_with_sms = set(db.session.scalars(sa.select(Message.cart_id).distinct().where(
                Message.cart_id.in_(sms_carts), Message.channel.in_(_US_CART_LIMITED),
                Message.status == MessageStatus.SENT, Message.kind != TEST_SEND)))
        cap_hours = max((getattr(store, c.cap_setting) for store in stores.values() for c in CHANNELS.values()),
                        default=0)
        if customer_ids and cap_hours > 0:
            for customer_id, channel, cart_id, sent_at in db.session.execute(
                    sa.select(Message.customer_id, Message.channel, Message.cart_id, Message.sent_at)
                    .where(Message.customer_id.in_(customer_ids), Message.status == MessageStatus.SENT,
                           Message.sent_at > now - timedelta(hours=cap_hours),
                           Message.kind.notin_([TEST_SEND, *_uncounted_kinds()]))):
                history.recent_sends[customer_id, channel].append((cart_id, sent_at))
        if customer_ids:
            history.conversation_opened_at = dict(db.session.execute(
                sa.select(Conversation.customer_id, sa.func.max(Conversation.opened_at))
                .where(Conversation.customer_id.in_(customer_ids), Conversation.status == ConversationStatus.OPEN)
                .group_by(Conversation.customer_id)).all())
        for send in pending:
            history.note(send)
        return history

    def note(self, send: Send) -> None:
        """A message is going out: later decisions must see it."""
        if channel_named(send.channel).one_text_per_us_cart and send.cart_id is not None:
            self.carts_with_sms.add(send.cart_id)
        if send.customer_id is not None and send.kind not in _uncounted_kinds():
            self.recent_sends[send.customer_id, send.channel].append((send.cart_id, send.at))


def decide(message: Message, store: Store, cart: Cart | None, customer: Customer | None, now: datetime,
           history: History) -> Decision:
    if store.paused:
        return skip("store_paused")
    if customer is None:
        return skip("no_customer")
    automation = registry.get(message.kind)
    stopped = automation.stop_reason(message, cart, customer, history) if automation is not None else None
    if stopped is not None:
        return skip(stopped)  # the automation's stop rule: the cart is back or bought, the shopper ordered since ...
    paused = _conversation_pause(message, store, customer, now, history, automation)
    if paused is not None:
        return paused
    decision = _channel_policy(message, store, cart, customer, now, history)
    if decision.action != "send":
        return decision
    if automation is not None and automation.caps_apply(message) and _over_frequency_cap(
            message, store, customer, now, history):
        return skip("frequency_cap")
    return SEND


def _conversation_pause(message: Message, store: Store, customer: Customer, now: datetime, history: History,
                        automation) -> Decision | None:
    """An open conversation holds the customer's marketing messages until it closes or ``conversation_pause_hours``
    after it opened: they wait (deferred to the pause's end), they are not skipped."""
    opened = history.conversation_opened_at.get(customer.id)
    if opened is None or automation is None or automation.kind not in paused_kinds():
        return None
    until = opened + timedelta(hours=store.conversation_pause_hours)
    return Decision("defer", "conversation_open", until) if until > now else None


def _channel_policy(message: Message, store: Store, cart: Cart | None, customer: Customer, now: datetime,
                    history: History) -> Decision:
    """The channel's own rules (address, opt-out, consent), the US carriers' one text per cart, then quiet hours.
    A keyword confirmation needs only the address; a reply the shopper is waiting for is not held by quiet hours."""
    medium = channel_named(message.channel)
    automation = registry.get(message.kind)
    rules = automation is None or automation.channel_rules_apply(message)
    reason = medium.refusal(customer) if rules else \
        next((reason for reason, applies in medium.refusals(customer)[:1] if applies), None)  # the address only
    if reason is not None:
        return skip(reason)
    if medium.one_text_per_us_cart and cart is not None and \
            phonenumbers.region_code_for_number(phonenumbers.parse(medium.address(customer))) == "US":
        if cart.abandoned_at is not None and now > cart.abandoned_at + US_SMS_WINDOW:
            return skip("us_sms_window")
        if cart.id in history.carts_with_sms:
            return skip("us_sms_limit")
    zone = medium.quiet_zone(customer, store)
    if zone is not None and (automation is None or automation.quiet_hours_apply(message, now)):
        opens = next_send_window(now, zone, store.quiet_hours_end, store.quiet_hours_start)
        if opens > now:
            return Decision("defer", "quiet_hours", opens)
    return SEND


def next_send_window(now: datetime, zone: ZoneInfo, opens_hour: int, closes_hour: int) -> datetime:
    """``now`` if it is inside [opens_hour, closes_hour) local time, else the next opening (UTC)."""
    local = now.astimezone(zone)
    if opens_hour <= local.hour < closes_hour:
        return now
    day = local.date() if local.hour < opens_hour else local.date() + timedelta(days=1)
    return datetime.combine(day, time(opens_hour), tzinfo=zone).astimezone(now.tzinfo)


def _over_frequency_cap(message: Message, store: Store, customer: Customer, now: datetime, history: History) -> bool:
    """One email per ``email_cap_hours`` and one SMS per ``sms_cap_hours`` across carts; one cart's steps are exempt."""
    hours = getattr(store, channel_named(message.channel).cap_setting)
    if hours <= 0:
        return False
    since = now - timedelta(hours=hours)
    return any(sent_at > since and (cart_id is None or message.cart_id is None or cart_id != message.cart_id)
               for cart_id, sent_at in history.recent_sends.get((customer.id, message.channel), ()))
