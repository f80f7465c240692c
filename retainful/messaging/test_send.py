"""A marketer's test-send: the real template through the real provider to an address they typed.

It is recorded as a message of kind ``test``: visible in the outbox, never counted in reports, never part of a
sequence, and its link works like a real one.
"""
from __future__ import annotations

from dataclasses import replace

from flask import current_app

from retainful import clock
from retainful.carts import get_cart
from retainful.customers import normalise_email, normalise_phone
from retainful.extensions import db
from retainful.messaging import tracking
from retainful.messaging.dispatch import providers_for
from retainful.messaging.providers import OutgoingEmail, OutgoingSms, ProviderError
from retainful.models import TEST_SEND, Message, MessageStatus, Store
from retainful.rendering.engine import EmailRendering
from retainful.rendering.preview import preview_context, render_template_for


def test_send(store: Store, channel: str, key: str, to: str, source: str | None = None,
              cart_token: str | None = None) -> Message:
    """Render and send now; returns the recorded message (status sent or failed, with the provider's reason)."""
    recipient = normalise_email(to) if channel == "email" else normalise_phone(to, store.country)
    code = tracking.new_link_code()
    context = preview_context(store, cart_token, tracking.short_link(code), open_pixel=tracking.pixel_link(code))
    rendered = render_template_for(store, channel, key, context, source)
    cart = get_cart(store, cart_token) if cart_token else None  # linked so erase and purge find what it rendered
    message = Message(store_id=store.id, kind=TEST_SEND, channel=channel, status=MessageStatus.SENDING,
                      due_at=clock.now(), link_code=code, recipient=recipient, attempts=1,
                      cart_id=cart and cart.id, customer_id=cart and cart.customer_id)
    providers = providers_for(current_app._get_current_object())
    if isinstance(rendered, EmailRendering):
        message.subject, message.body_html, message.body_text = rendered.subject, rendered.html, rendered.text
        outgoing = OutgoingEmail(message_id=0, to_email=recipient, to_name=None, from_email=store.from_email,
                                 from_name=store.from_name, subject=f"[Test] {rendered.subject}", html=rendered.html,
                                 text=rendered.text, unsubscribe_url=context["unsubscribe_url"],
                                 categories=(TEST_SEND,))
        provider = providers.email
    else:
        message.body_text = rendered.text
        outgoing = OutgoingSms(message_id=0, to=recipient, sender=store.sms_from, text=rendered.text)
        provider = providers.sms
    db.session.add(message)
    db.session.commit()
    outgoing = replace(outgoing, message_id=message.id)
    message.provider = provider.name
    try:
        result = (provider.send_email if channel == "email" else provider.send_sms)(outgoing)
    except ProviderError as error:
        message.status, message.error = MessageStatus.FAILED, error.reason[:1000]
    else:
        message.status, message.sent_at = MessageStatus.SENT, clock.now()
        message.provider_message_id = result.provider_message_id
    db.session.commit()
    return message
