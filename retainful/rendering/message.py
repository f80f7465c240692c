"""Rendering one outbox message with the store's templates and the shopper's links."""
from __future__ import annotations

from dataclasses import dataclass

from retainful.automations import registry
from retainful.models import Cart, Customer, Message, Store
from retainful.rendering.context import build_context, cart_view
from retainful.rendering.engine import render_email, render_sms
from retainful.rendering.links import unsubscribe_url


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    text: str
    html: str | None
    unsubscribe_url: str | None


def template_key(message: Message) -> str:
    return registry.get(message.kind).template_key(message.step.position if message.step else 1)


def render_message(message: Message, store: Store, cart: Cart | None, customer: Customer, *, recovery_link: str,
                   open_pixel: str | None, coupon=None, overrides: dict[tuple[str, str], str],
                   extra: dict | None = None) -> Rendered:
    """Subject/HTML/text for an email, text for an SMS; raises TemplateError if the store's template is broken.

    ``overrides`` are the store's templates in force (:func:`~retainful.rendering.overrides.current_sources`);
    ``extra`` the automation's own merge variables."""
    key = template_key(message)
    unsubscribe = unsubscribe_url(customer)
    context = build_context(store, cart=cart_view(cart) if cart else None, customer=customer,
                            recovery_url=recovery_link, unsubscribe_url=unsubscribe,
                            open_pixel_url=open_pixel if message.channel == "email" else None, coupon=coupon,
                            extra=extra)
    source = overrides.get((message.channel, key))
    if message.channel == "sms":
        return Rendered(None, render_sms(key, context, source).text, None, None)
    email = render_email(key, context, source)
    return Rendered(email.subject, email.text, email.html, unsubscribe)
