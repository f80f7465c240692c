"""Stores (tenants): creation, API keys and the lookup that authenticates storefront calls."""
from retainful.stores.service import (
    IssuedStore,
    StoreSettingsError,
    authenticate,
    create_store,
    hash_api_key,
    rotate_key,
    rotate_plugin_secret,
    store_by_app_id,
    update_settings,
)

__all__ = ["IssuedStore", "StoreSettingsError", "authenticate", "create_store", "hash_api_key", "rotate_key",
           "rotate_plugin_secret", "store_by_app_id", "update_settings"]
