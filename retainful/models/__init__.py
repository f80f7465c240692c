"""The data model: one module per aggregate. Every row belongs to one store."""
from retainful.models.campaign import Campaign, CampaignState
from retainful.models.cart import Cart, CartLine, CartStatus
from retainful.models.coupon import Coupon, CouponKind, CouponRedemption, DiscountType, SyncState
from retainful.models.conversation import (REASONS, CannedReply, Conversation, ConversationMessage,
                                           ConversationStatus, Direction, InboundSmsPart)
from retainful.models.customer import ConsentEvent, Customer
from retainful.models.form_token import FormToken
from retainful.models.message import NEXT_ORDER, TEST_SEND, Message, MessageStatus
from retainful.models.observability import JobRun, SendTally, WorkerHeartbeat
from retainful.models.order import Order
from retainful.models.outgoing_webhook import OutgoingWebhook
from retainful.models.product import Product
from retainful.models.sequence import ABANDONED_CART, Sequence, Step
from retainful.models.store import Store
from retainful.models.suppression import EmailSuppression
from retainful.models.template import TemplateVersion
from retainful.models.user import Invitation, Role, User, user_store
from retainful.models.webhook import WebhookDelivery

__all__ = [
    "ABANDONED_CART", "Campaign", "CampaignState", "CannedReply", "Cart", "Conversation", "ConversationMessage", "ConversationStatus",
    "Direction", "InboundSmsPart", "REASONS", "CartLine", "CartStatus", "ConsentEvent", "Coupon", "CouponKind",
    "CouponRedemption", "DiscountType", "SyncState", "Customer", "EmailSuppression", "FormToken", "Message",
    "MessageStatus", "NEXT_ORDER", "Order", "Product", "TEST_SEND", "Sequence", "Step", "Store", "TemplateVersion", "Invitation", "Role", "User", "user_store",
    "WebhookDelivery", "OutgoingWebhook", "JobRun", "SendTally", "WorkerHeartbeat",
]
