"""Store settings beyond ``update_settings``: the holdout share, the next-order coupon rule, the WooCommerce connection.

Each function checks every value before it changes anything, then commits; a bad value raises StoreSettingsError
naming the setting, and nothing is saved.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from retainful import egress
from retainful.extensions import db
from retainful.models import DiscountType, Store
from retainful.stores.service import StoreSettingsError

HOLDOUT_MAX_PERCENT = 50
NEXT_ORDER_MAX_DAYS = 365
_STATUS = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def set_holdout(store: Store, percent: int) -> Store:
    """The share of abandoned carts kept as a control group (never messaged), to measure true lift. 0 turns it off."""
    if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= HOLDOUT_MAX_PERCENT:
        raise StoreSettingsError(f"holdout_percent: a whole number from 0 to {HOLDOUT_MAX_PERCENT}")
    store.holdout_percent = percent
    db.session.commit()
    return store


def _amount(name: str, value: Decimal | str | None, allow_none: bool) -> Decimal | None:
    if value is None or value == "":
        if allow_none:
            return None
        raise StoreSettingsError(f"{name}: required")
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise StoreSettingsError(f"{name}: not a number") from None
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e14"):
        raise StoreSettingsError(f"{name}: must be zero or more")
    return amount


def update_next_order_rule(store: Store, *, enabled: bool, statuses: str, discount_type: str,
                           amount: Decimal | str | None, valid_days: int, minimum: Decimal | str | None = None,
                           first_only: bool = False, allow_chained: bool = False) -> Store:
    """The coupon sent after a qualifying order: which order statuses earn it, its discount, minimum and validity."""
    status_list = [s.strip().lower().removeprefix("wc-") for s in (statuses or "").split(",") if s.strip()]
    if not status_list or not all(_STATUS.match(s) for s in status_list):
        raise StoreSettingsError("next_order_statuses: comma-separated order statuses, e.g. processing,completed")
    joined = ",".join(dict.fromkeys(status_list))
    if len(joined) > 200:
        raise StoreSettingsError("next_order_statuses: at most 200 characters")
    if discount_type not in DiscountType.ALL:
        raise StoreSettingsError(f"next_order_type: one of {', '.join(DiscountType.ALL)}")
    value = Decimal(0) if discount_type == DiscountType.FREE_SHIPPING else _amount("next_order_amount", amount, False)
    if discount_type == DiscountType.PERCENT and not 0 < value <= 100:
        raise StoreSettingsError("next_order_amount: a percentage above 0 and at most 100")
    if discount_type == DiscountType.FIXED and not value > 0:
        raise StoreSettingsError("next_order_amount: a positive amount")
    minimum_value = _amount("next_order_minimum", minimum, True)
    if isinstance(valid_days, bool) or not isinstance(valid_days, int) or not 1 <= valid_days <= NEXT_ORDER_MAX_DAYS:
        raise StoreSettingsError(f"next_order_valid_days: a whole number from 1 to {NEXT_ORDER_MAX_DAYS}")
    store.next_order_enabled = bool(enabled)
    store.next_order_statuses = joined
    store.next_order_type = discount_type
    store.next_order_amount = value
    store.next_order_minimum = minimum_value
    store.next_order_valid_days = valid_days
    store.next_order_first_only = bool(first_only)
    store.next_order_allow_chained = bool(allow_chained)
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
        raise StoreSettingsError(f"woo_url: {error}") from None
    consumer_key = (consumer_key or "").strip()
    secret = (consumer_secret or "").strip() or store.woo_consumer_secret
    if not consumer_key or len(consumer_key) > 200:
        raise StoreSettingsError("woo_consumer_key: required, at most 200 characters")
    if not secret or len(secret) > 200:
        raise StoreSettingsError("woo_consumer_secret: required, at most 200 characters")
    store.woo_url, store.woo_consumer_key, store.woo_consumer_secret = url, consumer_key, secret
    store.woo_pull_cursor_after = store.woo_pull_cursor_page = None  # another shop's page means nothing here
    if commit:
        db.session.commit()
    return store


def disconnect_woocommerce(store: Store) -> Store:
    store.woo_url = store.woo_consumer_key = store.woo_consumer_secret = None
    store.woo_pull_cursor_after = store.woo_pull_cursor_page = None
    db.session.commit()
    return store
