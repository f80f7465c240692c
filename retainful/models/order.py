"""An order placed in the shop, keyed by the shop's own order id so intake is idempotent."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retainful import clock
from retainful.extensions import db
from retainful.models.cart import Cart
from retainful.models.customer import Customer
from retainful.models.types import MONEY, UTCDateTime


class Order(db.Model):
    __tablename__ = "shop_order"  # "order" is an SQL keyword
    __table_args__ = (
        sa.UniqueConstraint("store_id", "external_id"),
        sa.Index("ix_shop_order_store_placed", "store_id", "placed_at"),  # reports: orders placed in a period
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(sa.String(64))
    cart_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cart.id", ondelete="SET NULL"), index=True)
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customer.id", ondelete="SET NULL"), index=True)
    total: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(sa.String(3))
    status: Mapped[str] = mapped_column(sa.String(32))
    coupon_codes: Mapped[list] = mapped_column(sa.JSON, default=list)
    # Attribution: the message this revenue is credited to and the rule used (clicked, last_sent), or none.
    # use_alter: message -> coupon -> order. Indexed (migration 0031), as is credited_message_id: every deleted
    # message looks up the orders that name it.
    attributed_message_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("message.id", ondelete="SET NULL", use_alter=True), index=True)
    attribution_rule: Mapped[str | None] = mapped_column(sa.String(32))
    # The message of any automation the order is credited to (migration 0018): the recovery credit above, else the
    # customer's latest win-back (or other automation) message within the window. Per-automation reports read it.
    credited_message_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("message.id", ondelete="SET NULL", use_alter=True), index=True)
    # The conversation the order is credited to (rule ``conversation``, migration 0022): the shopper wrote in it
    # within 7 days before ordering. Recovered revenue, like a recovery message's credit.
    conversation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("conversation.id", ondelete="SET NULL"),
                                                        index=True)
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the shop's order time, else our receipt time
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The shop's own modification time (WooCommerce's date_modified_gmt): an update older than it changes nothing.
    shop_modified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the order first reached "completed" (shipped): post-purchase and order updates count from it.
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Shipment tracking (orders/tracking.py): [{"carrier", "number", "url", "shipped_on"}], or None when not known.
    tracking: Mapped[list | None] = mapped_column(sa.JSON(none_as_null=True))
    refunded: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0), server_default="0")  # at most the total
    # What was bought (migration 0025): [{"product_id", "quantity", "variant_id", "name"}], from the order's own lines (API
    # ``items``, WooCommerce's and the Retainful plugin's ``line_items``), else its cart's. Replenishment reads it.
    lines: Mapped[list] = mapped_column(sa.JSON, default=list, server_default=sa.text("'[]'"))

    @hybrid_property
    def revenue(self) -> Decimal:
        """What the order brought in: its total less what was refunded (also an SQL expression, for the reports)."""
        return self.total - self.refunded

    cart: Mapped[Cart | None] = relationship()
    customer: Mapped[Customer | None] = relationship()
