"""The data model: one module per aggregate. Every row belongs to one store."""
from retainful.models.cart import Cart, CartItem, CartStatus
from retainful.models.customer import CHANNELS, ConsentEvent, Customer
from retainful.models.message import TEST_SEND, Message, MessageStatus
from retainful.models.order import Order
from retainful.models.sequence import ABANDONED_CART, Sequence, Step
from retainful.models.store import Store
from retainful.models.template import TemplateVersion

__all__ = [
    "ABANDONED_CART", "CHANNELS", "Cart", "CartItem", "CartStatus", "ConsentEvent", "Customer", "Message",
    "MessageStatus", "Order", "TEST_SEND", "Sequence", "Step", "Store", "TemplateVersion",
]
