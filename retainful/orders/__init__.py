"""Orders: idempotent intake that closes the shopper's cart."""
from retainful.orders.intake import get_order, record_order

__all__ = ["get_order", "record_order"]
