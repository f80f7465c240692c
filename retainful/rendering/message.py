"""Rendering one outbox message with the store's templates and the shopper's links."""
from __future__ import annotations

from dataclasses import dataclass

from retainful.automations import registry
from retainful.channels import channel
from retainful.models import Cart, Customer, Message, Store
from retainful.rendering.context import build_context, cart_view
from retainful.rendering.engine import localized_key
from retainful.rendering.links import unsubscribe_url
from retainful.urls import PublicUrls


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    text: str
    html: str | None
    unsubscribe_url: str | None


def template_key(message: Message) -> str:
    return registry.get(message.kind).message_template(message)[0]


def render_message(message: Message, store: Store, cart: Cart | None, customer: Customer, *, urls: PublicUrls,
                   coupon=None, overrides: dict[tuple[str, str], str], extra: dict | None = None,
                   variant_source: str | None = None) -> Rendered:
    """Subject/HTML/text for an email, text for an SMS; raises TemplateError if the store's template is broken.

    The template is the variant of the step's key in the shopper's locale (customer's, else the store's) when one
    exists (``abandoned_cart/step1.ko``, a file or a version the store added), else the default; the store's override
    of that very key wins over its file.
    ``overrides`` are the store's templates in force (:func:`~retainful.rendering.overrides.current_sources`);
    ``extra`` the automation's own merge variables; ``variant_source`` an experiment variant's template, in place
    of the message's own (:func:`retainful.experiments.variant_source`)."""
    (key, source), medium = registry.get(message.kind).message_template(message), channel(message.channel)
    unsubscribe = unsubscribe_url(urls, customer)
    context = build_context(store, cart=cart_view(cart) if cart else None, customer=customer,
                            recovery_url=urls.recovery(message.link_code), unsubscribe_url=unsubscribe,
                            open_pixel_url=urls.pixel(message.link_code) if medium.tracks_opens else None,
                            coupon=coupon, extra=extra)
    key = localized_key(message.channel, key, context["locale"], overrides)  # the shopper's language, if it has one
    source = next((s for s in (variant_source, source) if s is not None), None)
    rendering = medium.render(key, context, source if source is not None else overrides.get((message.channel, key)))
    return Rendered(*medium.message_parts(rendering, unsubscribe))
