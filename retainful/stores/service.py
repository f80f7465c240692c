"""Creating stores and managing their secret keys."""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass
from urllib.parse import urlsplit

import sqlalchemy as sa
from babel.numbers import list_currencies

from retainful import clock, connections
from retainful.extensions import db
from retainful.automations import create_defaults
from retainful.models import Store
from retainful.stores import settings
from retainful.stores.settings import StoreSettingsError

KEY_PREFIX = "rtf_"
# The Retainful plugin validates its App ID and Secret Key as slugs. 32 characters of 36 are 165 random bits, and all 32
# bytes key the plugin's AES-256 (PHP pads or truncates the secret to 32 bytes).
_SLUG = string.ascii_lowercase + string.digits
APP_ID_LENGTH, PLUGIN_SECRET_LENGTH = 24, 32
_APP_ID = re.compile(r"[a-z0-9_-]{1,64}")


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
    settings.check({"timezone": timezone})
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
    connections.forget(store, connections.PLUGIN)  # what the old secret did says nothing of the new one
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


def update_settings(store: Store, **values) -> Store:
    """Change store settings; every value is checked (:func:`retainful.stores.settings.check`) before anything is
    saved."""
    settings.check(values)
    for name, value in values.items():
        setattr(store, name, value)
    db.session.commit()
    return store
