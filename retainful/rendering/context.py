"""The merge variables a template sees (documented in the README), for a real message or a sample cart.

Templates get plain views, never ORM objects: a model would let a template walk relationships (or ``.query``)
into data that is not the shopper's.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from retainful import clock
from retainful.extensions import db
from retainful.models import Cart, CartStatus, Customer, Order, Store
from retainful.urls import PublicUrls


@dataclass(frozen=True)
class ItemView:
    name: str
    quantity: int
    price: Decimal
    image_url: str | None = None
    product_url: str | None = None

    @property
    def line_total(self) -> Decimal:
        return self.price * self.quantity


@dataclass(frozen=True)
class CartView:
    items: list[ItemView]
    currency: str
    subtotal: Decimal
    total: Decimal

    @property
    def item_count(self) -> int:
        return sum(item.quantity for item in self.items)


@dataclass(frozen=True)
class SampleCustomer:
    first_name: str | None = "Alex"
    last_name: str | None = "Sample"
    email: str | None = "alex@example.com"


@dataclass(frozen=True)
class TrackingView:
    carrier: str | None
    number: str
    url: str | None
    shipped_on: date | None = None


@dataclass(frozen=True)
class OrderView:
    """An order as templates see it: its number, amounts, time, status, items (from its cart, when known) and
    shipment tracking."""

    number: str
    total: Decimal
    currency: str
    placed_at: datetime
    status: str
    items: list[ItemView]
    tracking: list[TrackingView]

    @property
    def item_count(self) -> int:
        return sum(item.quantity for item in self.items)


def order_view(order: Order) -> OrderView:
    items = cart_view(order.cart).items if order.cart is not None else []
    tracking = [TrackingView(t.get("carrier"), t["number"], t.get("url"),
                             date.fromisoformat(t["shipped_on"]) if t.get("shipped_on") else None)
                for t in order.tracking or []]
    return OrderView(order.external_id, order.total, order.currency, order.placed_at, order.status, items, tracking)


def last_order_vars(order: Order | OrderView | None, now: datetime) -> dict[str, Any]:
    """``last_order`` and ``days_since_last_order`` (None without an order)."""
    view = order_view(order) if isinstance(order, Order) else order
    return {"last_order": view,
            "days_since_last_order": (now - view.placed_at).days if view is not None else None}


def sample_order(store: Store, status: str = "completed") -> OrderView:
    """A realistic order for previews: the sample cart's items, shipped by a known carrier."""
    cart = sample_cart(store)
    return OrderView("1042", cart.total, store.currency, clock.now() - timedelta(days=7), status, cart.items,
                     [TrackingView("UPS", "1Z999AA10123456784",
                                   "https://www.ups.com/track?loc=en_US&tracknum=1Z999AA10123456784",
                                   clock.now().date())])


def cart_view(cart: Cart) -> CartView:
    return CartView([ItemView(i.name, i.quantity, i.price, i.image_url, i.product_url) for i in cart.items],
                    cart.currency, cart.subtotal, cart.total)


def store_vars(store: Store) -> dict[str, Any]:
    return {"name": store.name, "url": f"https://{store.domain}", "domain": store.domain,
            "postal_address": store.postal_address or ""}


def customer_vars(customer: Customer | SampleCustomer | None) -> dict[str, Any]:
    if customer is None:
        return {"first_name": None, "last_name": None, "email": None}
    return {"first_name": customer.first_name, "last_name": customer.last_name, "email": customer.email}


def build_context(store: Store, *, cart: CartView | None, customer, recovery_url: str | None,
                  unsubscribe_url: str | None, open_pixel_url: str | None = None, coupon: Any = None,
                  locale: str | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """``extra``: an automation's own variables (``last_order``, ``days_since_last_order``), None unless given."""
    return {
        "store": store_vars(store),
        "customer": customer_vars(customer),
        "cart": cart,
        "recovery_url": recovery_url,
        "coupon": coupon,
        "unsubscribe_url": unsubscribe_url,
        "open_pixel_url": open_pixel_url,
        "locale": locale or getattr(customer, "locale", None) or store.locale,
        "timezone": store.timezone,
        "currency": cart.currency if cart is not None else store.currency,
        "last_order": None,
        "days_since_last_order": None,
        **(extra or {}),
    }


def sample_cart(store: Store, urls: PublicUrls | None = None) -> CartView:
    """Two items; their pictures are the app's own (``urls``), or none where no URL builder is at hand."""
    base = f"https://{store.domain}"
    image = urls.sample_image if urls is not None else (lambda name: None)
    items = [
        ItemView("Classic enamel mug", 2, Decimal("12.50"), image("mug.png"), f"{base}/products/mug"),
        ItemView("Loose-leaf tea sampler", 1, Decimal("18.00"), image("tea.png"), f"{base}/products/tea"),
    ]
    subtotal = sum((item.line_total for item in items), Decimal(0))
    return CartView(items, store.currency, subtotal, subtotal)


def with_sample_vars(context: dict[str, Any], store: Store, key: str) -> dict[str, Any]:
    """The context plus the sample values of the variables the template's automation adds (``order``, ``coupon``
    ...), where the context has none: a preview or a save check of ``welcome/step1`` shows a code."""
    from retainful.automations import registry  # late: automation modules use this module's views

    automation = registry.get(key.split("/")[0])
    extra = automation.sample_vars(store) if automation is not None else {}
    return {**context, **{name: value for name, value in extra.items() if context.get(name) is None}}


def sample_context(store: Store, urls: PublicUrls, key: str = "") -> dict[str, Any]:
    """A realistic cart (and the template's automation's sample variables) for previews and for proving an override
    renders before it is saved."""
    return with_sample_vars(build_context(store, cart=sample_cart(store, urls), customer=SampleCustomer(),
                                          recovery_url=urls.recovery("SAMPLECODE"),
                                          unsubscribe_url=urls.unsubscribe("sample"), open_pixel_url=None),
                            store, key)


def cart_context(store: Store, cart: Cart, urls: PublicUrls, recovery_link: str,
                 open_pixel: str | None = None) -> dict[str, Any]:
    """A real cart and its shopper for a preview, a test-send or a save check, never with the shopper's unsubscribe
    link: whoever previews (a marketer) must not be able to unsubscribe the shopper."""
    customer = cart.customer or SampleCustomer(first_name=None, last_name=None, email=None)
    return build_context(store, cart=cart_view(cart), customer=customer, recovery_url=recovery_link,
                         unsubscribe_url=urls.inert("unsubscribe"), open_pixel_url=open_pixel)


def recent_carts(store_id: int, limit: int) -> list[Cart]:
    """The store's most recently active carts, newest first: what the editor offers and what a save renders."""
    return list(db.session.scalars(
        sa.select(Cart).where(Cart.store_id == store_id, Cart.status != CartStatus.DELETED)
        .order_by(Cart.last_activity_at.desc()).limit(limit)))
