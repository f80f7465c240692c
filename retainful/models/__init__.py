"""The data model: one module per aggregate. Every row belongs to one store."""
from retainful.models.cart import Cart, CartItem, CartStatus
from retainful.models.customer import CHANNELS, ConsentEvent, Customer
from retainful.models.message import Message, MessageStatus
from retainful.models.order import Order
from retainful.models.sequence import ABANDONED_CART, Sequence, Step
from retainful.models.store import Store

__all__ = [
    "ABANDONED_CART", "CHANNELS", "Cart", "CartItem", "CartStatus", "ConsentEvent", "Customer", "Message",
    "MessageStatus", "Order", "Sequence", "Step", "Store",
]
