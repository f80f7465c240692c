"""The public URL scheme in one place: every link the service hands out under ``PUBLIC_BASE_URL``.

Built once per app (:func:`public_urls`) and passed into the domain (dispatch, rendering, previews, test-sends), so
no domain module reads ``current_app.config`` for it and a new kind of link is one method here; the routes that
answer these links are in ``retainful/public/views.py`` (and the API's webhook and admin blueprints)."""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

_INERT = {"recovery": "/r/PREVIEW", "pixel": "/o/PREVIEW.gif", "unsubscribe": "/unsubscribe/preview"}


@dataclass(frozen=True)
class PublicUrls:
    base_url: str  # PUBLIC_BASE_URL without a trailing slash

    def recovery(self, code: str) -> str:
        """The short link of a message (``/r/<code>``): counts the click and redirects to the cart."""
        return f"{self.base_url}/r/{code}"

    def pixel(self, code: str) -> str:
        """The open pixel of an email (``/o/<code>.gif``)."""
        return f"{self.base_url}/o/{code}.gif"

    def unsubscribe(self, token: str) -> str:
        """The signed one-click unsubscribe page (``/unsubscribe/<token>``)."""
        return f"{self.base_url}/unsubscribe/{token}"

    def inert(self, kind: str) -> str:
        """A link that looks like the real one and acts on nobody, for previews: ``/r/PREVIEW``, ``/o/PREVIEW.gif``
        (both shorter than a link code, so unknown) and ``/unsubscribe/preview`` (not a signed token)."""
        return f"{self.base_url}{_INERT[kind]}"

    def woocommerce_webhook(self, store_id: int) -> str:
        """Where a store's WooCommerce webhooks are delivered."""
        return f"{self.base_url}/api/v1/webhooks/woocommerce/{store_id}"

    def sample_image(self, name: str) -> str:
        """A product picture of the sample cart, served by the app (``admin/static/sample/``), so a preview or a
        test-send of the sample never shows a broken image."""
        return f"{self.base_url}/admin/assets/sample/{name}"

    def admin(self) -> str:
        return f"{self.base_url}/admin"


def public_urls(app: Flask) -> PublicUrls:
    """The app's URL builder, made once from its PUBLIC_BASE_URL."""
    urls = app.extensions.get("retainful.urls")
    if urls is None:
        urls = app.extensions["retainful.urls"] = PublicUrls(str(app.config["PUBLIC_BASE_URL"]).rstrip("/"))
    return urls
