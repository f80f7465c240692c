"""Creating stores and managing their secret keys."""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from babel.numbers import list_currencies

from retainful import clock
from retainful.extensions import db
from retainful.models import DiscountType, Store
from retainful.automations import create_defaults

KEY_PREFIX = "rtf_"
# The Retainful plugin validates its App ID and Secret Key as slugs. 32 characters of 36 are 165 random bits, and all 32
# bytes key the plugin's AES-256 (PHP pads or truncates the secret to 32 bytes).
_SLUG = string.ascii_lowercase + string.digits
APP_ID_LENGTH, PLUGIN_SECRET_LENGTH = 24, 32
_APP_ID = re.compile(r"[a-z0-9_-]{1,64}")


class StoreSettingsError(ValueError):
    """A store setting is invalid; the message names it."""


@dataclass(frozen=True)
class IssuedStore:
    """A store with its secrets in clear, as shown once at creation or rotation."""

    store: Store
    api_key: str
    webhook_secret: str


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def _new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)  # 32 bytes = 256 bits of entropy


def _random_slug(length: int) -> str:
    return "".join(secrets.choice(_SLUG) for _ in range(length))


def _check_settings(timezone: str, currency: str, country: str | None) -> None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise StoreSettingsError(f"timezone: unknown time zone {timezone!r}") from None
    if currency not in list_currencies():
        raise StoreSettingsError(f"currency: {currency!r} is not an ISO 4217 code")
    if country is not None and (len(country) != 2 or not country.isalpha()):
        raise StoreSettingsError(f"country: {country!r} is not a two-letter ISO 3166 code")


def normalise_domain(domain: str) -> str:
    """``https://Shop.example.com/`` and ``shop.example.com`` are the same store domain."""
    value = domain.strip().lower()
    if "://" in value:
        try:
            value = urlsplit(value).hostname or ""
        except ValueError:  # a full-width '＠' or '／' in the host, or a broken [IPv6]
            raise StoreSettingsError(f"domain: {domain!r} is not a domain name") from None
    value = value.split("/")[0].rstrip(".")
    if not value or "." not in value and value != "localhost":
        raise StoreSettingsError(f"domain: {domain!r} is not a domain name")
    return value


def create_store(
    name: str,
    domain: str,
    timezone: str = "UTC",
    currency: str = "USD",
    country: str | None = None,
    locale: str = "en_US",
) -> IssuedStore:
    """Create a store with a fresh API key and webhook secret. Recovery is on from this moment."""
    currency = currency.upper()
    country = country.upper() if country else None
    _check_settings(timezone, currency, country)
    api_key = _new_api_key()
    webhook_secret = secrets.token_urlsafe(32)
    store = Store(
        name=name.strip(),
        domain=normalise_domain(domain),
        timezone=timezone,
        currency=currency,
        country=country,
        locale=locale,
        api_key_hash=hash_api_key(api_key),
        api_key_prefix=api_key[:10],
        webhook_secret=webhook_secret,
        retainful_app_id=_random_slug(APP_ID_LENGTH),
        retainful_secret_key=_random_slug(PLUGIN_SECRET_LENGTH),
        recovery_started_at=clock.now(),
    )
    db.session.add(store)
    db.session.flush()
    create_defaults(store)
    db.session.commit()
    return IssuedStore(store, api_key, webhook_secret)


def rotate_key(store: Store) -> str:
    """Give the store a new API key; the old one stops working with this commit."""
    api_key = _new_api_key()
    store.api_key_hash = hash_api_key(api_key)
    store.api_key_prefix = api_key[:10]
    db.session.commit()
    return api_key


def rotate_plugin_secret(store: Store) -> str:
    """Give the store a new Retainful plugin secret; the plugin must be given it, the App ID stays."""
    store.retainful_secret_key = _random_slug(PLUGIN_SECRET_LENGTH)
    db.session.commit()
    return store.retainful_secret_key


def store_by_app_id(app_id: str | None) -> Store | None:
    """The store the plugin names by its App ID, or None (the App ID is public: the plugin's HMAC authenticates)."""
    if not app_id or not _APP_ID.fullmatch(app_id):  # a NUL byte would not even reach PostgreSQL as a parameter
        return None
    return db.session.scalar(sa.select(Store).where(Store.retainful_app_id == app_id))


# Built once: every storefront call runs it, and reusing one statement skips rebuilding it and its cache key.
_STORE_BY_KEY_HASH = sa.select(Store).where(Store.api_key_hash == sa.bindparam("digest"))


def authenticate(api_key: str | None) -> Store | None:
    """The store that owns this key, or None. The hash is looked up, then compared in constant time."""
    if not api_key or len(api_key) > 200:
        return None
    digest = hash_api_key(api_key)
    store = db.session.scalar(_STORE_BY_KEY_HASH, {"digest": digest})
    if store is None or not hmac.compare_digest(store.api_key_hash, digest):
        return None
    return store


# Settings a store owner may change, with the range each must stay in.
SETTING_RANGES = {
    "abandon_after_minutes": (1, 24 * 60),
    "retention_days": (1, 3650),
    "customer_retention_days": (1, 3650),
    "quiet_hours_start": (0, 23),
    "quiet_hours_end": (0, 23),
    "email_cap_hours": (0, 24 * 30),
    "sms_cap_hours": (0, 24 * 30),
    "holdout_percent": (0, 50),
    "attribution_window_days": (1, 60),
    "next_order_valid_days": (1, 365),
}
# The WooCommerce connection is not here: options.connect_woocommerce is its one check (the shop URL's address too).
TEXT_SETTINGS = {"sender_email": 254, "sender_name": 100, "sms_sender": 15, "postal_address": 500, "name": 200,
                 "next_order_statuses": 200}
FLAGS = {"paused", "next_order_enabled", "next_order_first_only", "next_order_allow_chained"}


def update_settings(store: Store, **values) -> Store:
    """Change store settings; every value is checked before anything is saved."""
    for name, value in values.items():
        if name in SETTING_RANGES:
            low, high = SETTING_RANGES[name]
            if not isinstance(value, int) or not low <= value <= high:
                raise StoreSettingsError(f"{name}: must be a whole number from {low} to {high}")
        elif name in TEXT_SETTINGS:
            if value is not None and len(value) > TEXT_SETTINGS[name]:
                raise StoreSettingsError(f"{name}: at most {TEXT_SETTINGS[name]} characters")
        elif name in FLAGS:
            if not isinstance(value, bool):
                raise StoreSettingsError(f"{name}: must be true or false")
        elif name == "next_order_type":
            if value not in DiscountType.ALL:
                raise StoreSettingsError(f"next_order_type: one of {', '.join(DiscountType.ALL)}")
        elif name in ("next_order_amount", "next_order_minimum"):
            if value is not None and (not isinstance(value, Decimal) or not Decimal(0) <= value <= Decimal(10**9)):
                raise StoreSettingsError(f"{name}: a non-negative amount")
        elif name == "timezone":
            _check_settings(value, store.currency, store.country)
        else:
            raise StoreSettingsError(f"{name}: not a store setting")
    if values.get("sms_sender") and not (values["sms_sender"].isalnum() and len(values["sms_sender"]) <= 11
                                         or values["sms_sender"].lstrip("+").isdigit()):
        raise StoreSettingsError("sms_sender: up to 11 letters and digits, or a phone number")
    for name, value in values.items():
        setattr(store, name, value)
    db.session.commit()
    return store
