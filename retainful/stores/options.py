"""Store settings beyond ``update_settings``: the holdout share, the next-order coupon rule, the WooCommerce connection.

Each function checks every value (:mod:`retainful.stores.settings`, the one table of rules) before it changes
anything, then commits; a bad value raises StoreSettingsError naming the setting, and nothing is saved.
"""
from __future__ import annotations

import re
from decimal import Decimal

from retainful import connections, egress
from retainful.extensions import db
from retainful.models import DiscountType, Store
from retainful.stores import settings
from retainful.stores.settings import StoreSettingsError
from retainful.words import N_

_STATUS = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def set_holdout(store: Store, percent: int) -> Store:
    """The share of abandoned carts kept as a control group (never messaged), to measure true lift. 0 turns it off."""
    settings.check({"holdout_percent": percent})
    store.holdout_percent = percent
    db.session.commit()
    return store


def update_next_order_rule(store: Store, *, enabled: bool, statuses: str, discount_type: str,
                           amount: Decimal | str | None, valid_days: int, minimum: Decimal | str | None = None,
                           first_only: bool = False, allow_chained: bool = False) -> Store:
    """The coupon sent after a qualifying order: which order statuses earn it, its discount, minimum and validity."""
    status_list = [s.strip().lower().removeprefix("wc-") for s in (statuses or "").split(",") if s.strip()]
    if not status_list or not all(_STATUS.match(s) for s in status_list):
        raise StoreSettingsError.of("next_order_statuses",
                                    N_("comma-separated order statuses, e.g. processing,completed"))
    free = discount_type == DiscountType.FREE_SHIPPING  # its amount is ignored
    values = {"next_order_enabled": bool(enabled), "next_order_statuses": ",".join(dict.fromkeys(status_list)),
              "next_order_type": discount_type, "next_order_amount": None if free else amount, "next_order_minimum": minimum,
              "next_order_valid_days": valid_days, "next_order_first_only": bool(first_only),
              "next_order_allow_chained": bool(allow_chained)}
    settings.check(values)
    values["next_order_amount"] = Decimal(0) if free else Decimal(str(amount))
    values["next_order_minimum"] = None if minimum is None or minimum == "" else Decimal(str(minimum))
    for name, value in values.items():
        setattr(store, name, value)
    db.session.commit()
    return store


def connect_woocommerce(store: Store, url: str, consumer_key: str, consumer_secret: str | None = None, *,
                        commit: bool = True) -> Store:
    """Connect the store's WooCommerce shop (REST API keys with read/write access): the one check of these settings,
    for the admin and the CLI. A blank secret keeps the stored one, so the owner can change the URL without pasting
    the secret again. The URL must be https to a public address (egress.check_shop_url): the keys travel with every
    request, and the service must not be made to fetch its own network. ``commit=False`` leaves the commit to a
    caller that saves other settings with these."""
    try:
        url = egress.check_shop_url(url)
    except egress.ShopUrlError as error:
        raise StoreSettingsError.of("woo_url", error.reason) from None
    consumer_key = (consumer_key or "").strip()
    secret = (consumer_secret or "").strip() or store.woo_consumer_secret
    if not consumer_key or len(consumer_key) > 200:
        raise StoreSettingsError.of("woo_consumer_key", N_("required, at most %(max)s characters", max=200))
    if not secret or len(secret) > 200:
        raise StoreSettingsError.of("woo_consumer_secret", N_("required, at most %(max)s characters", max=200))
    if (store.woo_url, store.woo_consumer_key, store.woo_consumer_secret) != (url, consumer_key, secret):
        connections.forget(store, connections.WOOCOMMERCE)  # the badge must not vouch for keys nobody tried
    store.woo_url, store.woo_consumer_key, store.woo_consumer_secret = url, consumer_key, secret
    store.woo_pull_cursor_after = store.woo_pull_cursor_page = None  # another shop's page means nothing here
    if commit:
        db.session.commit()
    return store


def disconnect_woocommerce(store: Store) -> Store:
    store.woo_url = store.woo_consumer_key = store.woo_consumer_secret = None
    store.woo_pull_cursor_after = store.woo_pull_cursor_page = None
    connections.forget(store, connections.WOOCOMMERCE)
    db.session.commit()
    return store
