"""What a plugin report does: the storefront API's own cart and order intake, with the plugin's ordering and
status rules on top. No second cart model: a plugin cart is a cart, with the decrypted snapshot kept beside it."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from retainful import carts, clock, connections, orders
from retainful.extensions import db
from retainful.models import Cart, Store

# Statuses the plugin treats as "not placed" (RestApi::isOrderHasValidOrderStatus); on-hold too unless the shop says
# otherwise. An order is placed once it has a completed_at and none of these statuses.
NOT_PLACED = frozenset({"pending", "failed", "checkout-draft", "trash", "cancelled", "refunded"})
AWAITING_PAYMENT = frozenset({"pending", "checkout-draft"})


def record_cart(store: Store, token: str, report: dict[str, Any] | None, snapshot: dict[str, Any],
                updated_at: datetime | None) -> Cart | None:
    """Report the plugin's cart; ``report`` None means it was emptied. A snapshot older than the one kept (by its
    updated_at), or the same one again, changes nothing, so a late or replayed delivery cannot roll the cart back.
    The row stays locked (PostgreSQL) from this check to the report's commit: the browser posts on every cart event."""
    cart = carts.get_cart(store, token, for_update=True)
    if cart is not None and cart.plugin_updated_at is not None and updated_at is not None and (
            updated_at < cart.plugin_updated_at
            or updated_at == cart.plugin_updated_at and cart.plugin_snapshot == snapshot):
        return cart
    if report is None:
        if cart is not None:
            carts.delete_cart(store, cart)
        return cart
    cart, _ = carts.report_cart(store, token, report, plugin_snapshot=snapshot, plugin_updated_at=updated_at)
    return cart


def is_placed(status: str, completed_at: datetime | None, on_hold_is_complete: bool) -> bool:
    if status == "on-hold":
        return on_hold_is_complete
    return completed_at is not None and status not in NOT_PLACED


def record_order(store: Store, report: dict[str, Any], cart_report: dict[str, Any] | None, placed: bool) -> None:
    """A placed order goes through order intake. One not placed yet (awaiting payment, failed) is still a checkout the
    shopper may abandon: it reports their cart, unless the order was recorded before, when it is a change of status.
    The plugin sends a cancelled order as "pending" by default, so an order seen placed that turns pending is cancelled.
    """
    if placed:
        orders.record_order(store, report)
        return
    if orders.get_order(store, report["order_id"]) is not None:
        status = "cancelled" if report["status"] in AWAITING_PAYMENT else report["status"]
        orders.record_order(store, {**report, "status": status})
        return
    if report.get("cart_token") and cart_report is not None:
        carts.report_cart(store, report["cart_token"], cart_report)


def snapshot(store: Store, token: str) -> dict[str, Any] | None:
    """The decrypted cart the plugin last sent for this token (another store's tokens are invisible)."""
    cart = carts.get_cart(store, token)
    return cart.plugin_snapshot if cart is not None else None


SHOP_FIELDS = ("domain", "name", "email", "admin_email", "currency", "timezone", "locale", "language", "country",
               "address", "address_1", "address_2", "city", "state", "postcode", "zip", "phone", "plan", "url")


def connect(store: Store, shop: dict[str, Any]) -> Store:
    """Keep what the plugin says about the shop, and fill the store's settings that are still empty from it."""
    details = {key: shop[key] for key in SHOP_FIELDS if isinstance(shop.get(key), (str, int)) and not
               isinstance(shop.get(key), bool) and len(str(shop[key])) <= 500}
    store.retainful_shop = details
    store.retainful_connected_at = clock.now()
    connections.record(store, connections.PLUGIN, None)
    store.retainful_history_due_at = clock.now()  # the shop's past orders are imported on the job's next run
    address = ", ".join(str(details[key]) for key in ("address", "address_1", "address_2", "city", "postcode", "zip",
                                                      "state", "country") if details.get(key))
    if store.postal_address is None and address:
        store.postal_address = address[:500]
    country = details.get("country")
    if store.country is None and isinstance(country, str) and len(country) == 2 and country.isalpha():
        store.country = country.upper()
    db.session.commit()
    return store


CONNECT_REFUSED = "a connect call from the plugin was refused: the Secret Key in the shop is not this store's"


def connect_refused(store: Store) -> None:
    """A connect call named this store but was not sealed with its Secret Key: the owner reads it on the badge (red
    only while the plugin has not worked with the current key: a stranger's forged call cannot turn it red)."""
    connections.record_unverified(store, connections.PLUGIN, CONNECT_REFUSED)
    db.session.commit()
