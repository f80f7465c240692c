"""Previews for the template editor: a sample cart or one of the store's real carts, saved or unsaved source."""
from __future__ import annotations

from typing import Any

from retainful.carts import get_cart
from retainful.channels import channel as channel_named
from retainful.errors import FieldError
from retainful.models import Store
from retainful.rendering.context import SampleCustomer, build_context, cart_context, sample_cart, with_sample_vars
from retainful.rendering.engine import EmailRendering, SmsRendering, default_source, key_locale
from retainful.rendering.overrides import effective_source
from retainful.urls import PublicUrls


def preview_context(store: Store, urls: PublicUrls, cart_token: str | None, recovery_link: str,
                    open_pixel: str | None = None) -> dict[str, Any]:
    """Merge variables for a preview: the real cart and its shopper when a token is given, else the sample; the
    unsubscribe link is inert either way."""
    if cart_token:
        cart = get_cart(store, cart_token)
        if cart is None:
            raise FieldError("cart_token", "No cart with this token in this store.")
        return cart_context(store, cart, urls, recovery_link, open_pixel)
    return build_context(store, cart=sample_cart(store, urls), customer=SampleCustomer(), recovery_url=recovery_link,
                         unsubscribe_url=urls.inert("unsubscribe"), open_pixel_url=open_pixel)


def render_template_for(store: Store, channel: str, key: str, context: dict[str, Any],
                        source: str | None = None) -> EmailRendering | SmsRendering:
    """Render ``source`` if given (the editor's unsaved text), else the store's current template. A locale variant
    (``abandoned_cart/step1.ko``) renders for a shopper of its locale, so amounts and dates read as they will."""
    default_source(channel, key)  # refuses unknown keys
    if source is None:
        source = effective_source(store.id, channel, key)
    context = {**context, "locale": key_locale(key) or context["locale"]}
    return channel_named(channel).render(key, with_sample_vars(context, store, key), source)


def preview(store: Store, urls: PublicUrls, channel: str, key: str, source: str | None = None,
            cart_token: str | None = None) -> EmailRendering | SmsRendering:
    return render_template_for(store, channel, key, preview_context(store, urls, cart_token, urls.inert("recovery")),
                               source)
