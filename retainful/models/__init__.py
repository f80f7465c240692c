"""The data model: one module per aggregate. Every row belongs to one store."""
from retainful.models.cart import Cart, CartItem, CartStatus
from retainful.models.customer import CHANNELS, ConsentEvent, Customer
from retainful.models.order import Order
from retainful.models.store import Store

__all__ = ["CHANNELS", "Cart", "CartItem", "CartStatus", "ConsentEvent", "Customer", "Order", "Store"]
