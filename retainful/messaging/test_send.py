"""A marketer's test-send: the real template through the real provider to an address they typed.

It is recorded as a message of kind ``test``: visible in the outbox, never counted in reports, never part of a
sequence; its link and pixel count on the test message only, and its unsubscribe link is inert. Live providers bill
each send to any number typed in, so each requester (the API's key holder, an admin user) and each store get a limit
per hour, counted from these rows.
"""
from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from retainful import clock
from retainful.carts import get_cart
from retainful.channels import channel as channel_named
from retainful.errors import FieldError
from retainful.extensions import db
from retainful.messaging import tracking
from retainful.messaging.dispatch import providers_for
from retainful.messaging.providers import ProviderError
from retainful.models import TEST_SEND, Message, MessageStatus, Store
from retainful.rendering.preview import preview_context, render_template_for
from retainful.stores import checklist
from retainful.urls import PublicUrls


LIMIT_WINDOW = timedelta(hours=1)
API = "api"  # the requester of the API's test-sends: the store's key holder


class TestSendLimited(Exception):
    """Too many test-sends in the last hour; the next is allowed in ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.message, self.retry_after = message, retry_after


def user_requester(user_id: int) -> str:
    return f"user:{user_id}"


def check_limits(store: Store, requested_by: str) -> None:
    """Refuse with TestSendLimited when the requester or the store has used up its test-sends of the last hour."""
    config, now = current_app.config, clock.now()
    mine = Message.requested_by == requested_by
    if requested_by == API:  # one key per store: the key holder's sends are the store's API sends
        mine = sa.and_(mine, Message.store_id == store.id)
    for limit, condition, whose in ((config["TEST_SENDS_PER_USER_HOUR"], mine, "your"),
                                    (config["TEST_SENDS_PER_STORE_HOUR"], Message.store_id == store.id, "this store's")):
        if limit <= 0:
            continue
        count, oldest = db.session.execute(
            sa.select(sa.func.count(), sa.func.min(Message.created_at))
            .where(Message.kind == TEST_SEND, Message.created_at > now - LIMIT_WINDOW, condition)).one()
        if count >= limit:
            retry_after = max(1, math.ceil((oldest + LIMIT_WINDOW - now).total_seconds()))
            raise TestSendLimited(f"{limit} test-sends an hour is {whose} limit; try again in "
                                  f"{math.ceil(retry_after / 60)} min.", retry_after)


def test_send(store: Store, urls: PublicUrls, channel: str, key: str, to: str, source: str | None = None,
              cart_token: str | None = None, *, requested_by: str) -> Message:
    """Render and send now; returns the recorded message (status sent or failed, with the provider's reason).
    Raises TestSendLimited past the requester's or the store's hourly limit, before rendering anything."""
    medium = channel_named(channel)
    try:
        recipient = medium.normalise_address(to, store)
    except FieldError as error:  # the field is the address typed, ``to``, whatever the channel calls it
        raise FieldError("to", error.message) from None
    check_limits(store, requested_by)
    code = tracking.new_link_code()
    context = preview_context(store, urls, cart_token, urls.recovery(code), open_pixel=urls.pixel(code))
    rendered = render_template_for(store, channel, key, context, source)
    cart = get_cart(store, cart_token) if cart_token else None  # linked so erase and purge find what it rendered
    message = Message(store_id=store.id, kind=TEST_SEND, channel=channel, status=MessageStatus.SENDING,
                      due_at=clock.now(), link_code=code, recipient=recipient, attempts=1,
                      cart_id=cart and cart.id, customer_id=cart and cart.customer_id)
    providers = providers_for(current_app._get_current_object())
    message.subject, message.body_text, message.body_html, _ = medium.message_parts(rendered, None)
    outgoing = medium.envelope(message_id=0, store=store, recipient=recipient, to_name=None, rendering=rendered,
                               unsubscribe_url=context["unsubscribe_url"], categories=(TEST_SEND,),
                               subject_prefix="[Test] ")
    provider = medium.provider(providers)
    message.requested_by = requested_by  # what the limits count
    db.session.add(message)
    db.session.commit()
    outgoing = replace(outgoing, message_id=message.id)
    message.provider = provider.name
    try:
        result = medium.send(provider, outgoing)
    except ProviderError as error:
        message.status, message.error = MessageStatus.FAILED, error.reason[:1000]
    else:
        message.status, message.sent_at = MessageStatus.SENT, clock.now()
        message.provider_message_id = result.provider_message_id
        checklist.mark(store, "test_send", commit=False)
    db.session.commit()
    return message
