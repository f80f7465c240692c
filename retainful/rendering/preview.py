"""Previews for the template editor: a sample cart or one of the store's real carts, saved or unsaved source."""
from __future__ import annotations

from typing import Any

from flask import current_app

from retainful.carts import get_cart
from retainful.errors import FieldError
from retainful.models import Store
from retainful.rendering.context import SampleCustomer, build_context, cart_view, sample_cart
from retainful.rendering.engine import EmailRendering, SmsRendering, default_source, render_email, render_sms
from retainful.rendering.links import unsubscribe_url
from retainful.rendering.overrides import effective_source


def preview_context(store: Store, cart_token: str | None, recovery_link: str, unsubscribe: str | None = None,
                    open_pixel: str | None = None) -> dict[str, Any]:
    """Merge variables for a preview: the real cart and its shopper when a token is given, else the sample."""
    if cart_token:
        cart = get_cart(store, cart_token)
        if cart is None:
            raise FieldError("cart_token", "No cart with this token in this store.")
        customer = cart.customer or SampleCustomer(first_name=None, last_name=None, email=None)
        if unsubscribe is None and cart.customer is not None:
            unsubscribe = unsubscribe_url(cart.customer)
        view = cart_view(cart)
    else:
        customer, view = SampleCustomer(), sample_cart(store)
    base = current_app.config["PUBLIC_BASE_URL"]
    return build_context(store, cart=view, customer=customer, recovery_url=recovery_link,
                         unsubscribe_url=unsubscribe or f"{base}/unsubscribe/preview", open_pixel_url=open_pixel)


def render_template_for(store: Store, channel: str, key: str, context: dict[str, Any],
                        source: str | None = None) -> EmailRendering | SmsRendering:
    """Render ``source`` if given (the editor's unsaved text), else the store's current template."""
    default_source(channel, key)  # refuses unknown keys
    if source is None:
        source = effective_source(store.id, channel, key)
    return (render_email if channel == "email" else render_sms)(key, context, source)


def preview(store: Store, channel: str, key: str, source: str | None = None,
            cart_token: str | None = None) -> EmailRendering | SmsRendering:
    link = f"{current_app.config['PUBLIC_BASE_URL']}/r/PREVIEW"
    return render_template_for(store, channel, key, preview_context(store, cart_token, link), source)
