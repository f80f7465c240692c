"""Links inside messages: where a click sends the shopper, and the signed unsubscribe link."""
from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from retainful.models import Cart, Customer, Message, Store
from retainful.urls import PublicUrls

UNSUBSCRIBE_SALT = "retainful.unsubscribe"


def recovery_url(cart: Cart, store: Store, message: Message) -> str:
    """The cart's recovery URL with UTM parameters naming the channel and step (no personal data in it). A cart from
    the Retainful plugin leads to its signed restore link, which applies ``retainful_ac_coupon`` to the rebuilt cart."""
    base = cart.recovery_url or f"https://{store.domain}/cart"
    parts = urlsplit(base)
    query = dict(parse_qsl(parts.query))
    step = message.step.position if message.step else 0
    query.update(utm_source="retainful", utm_medium=message.channel, utm_campaign=message.kind,
                 utm_content=f"step{step}")
    if cart.plugin_snapshot is not None and message.coupon is not None:
        query["retainful_ac_coupon"] = message.coupon.code
    return urlunsplit(parts._replace(query=urlencode(query)))


def reorder_url(store: Store, product_id: str, quantity: int, cart: Cart | None = None) -> str:
    """Where a replenishment reminder sends the shopper to buy again, on the store's domain: the Retainful plugin's
    own signed restore link when the order came from a plugin cart (the plugin rebuilds that cart), else
    WooCommerce's ``/?add-to-cart=<product_id>&quantity=<n>``."""
    if cart is not None and cart.plugin_snapshot is not None and cart.recovery_url:
        return cart.recovery_url
    return f"https://{store.domain}/?add-to-cart={quote(product_id, safe='')}&quantity={quantity}"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(customer: Customer) -> str:
    return _serializer().dumps([customer.store_id, customer.id])


def read_unsubscribe_token(token: str) -> tuple[int, int] | None:
    """(store id, customer id) from a token we signed, or None for anything else."""
    try:
        store_id, customer_id = _serializer().loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    return (store_id, customer_id) if isinstance(store_id, int) and isinstance(customer_id, int) else None


def unsubscribe_url(urls: PublicUrls, customer: Customer) -> str:
    return urls.unsubscribe(unsubscribe_token(customer))
