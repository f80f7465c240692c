"""The official Retainful WooCommerce plugin as a storefront: its envelope, its payloads, and what they do here."""
from retainful.plugin.intake import connect, connect_refused, is_placed, record_cart, record_order, snapshot

__all__ = ["connect", "connect_refused", "is_placed", "record_cart", "record_order", "snapshot"]
