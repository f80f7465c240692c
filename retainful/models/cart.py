"""A storefront cart and its lines."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retainful import clock
from retainful.extensions import db
from retainful.models.customer import Customer
from retainful.models.types import MONEY, UTCDateTime


class CartStatus:
    LIVE = "live"
    ABANDONED = "abandoned"
    RECOVERED = "recovered"
    CONVERTED = "converted"
    LOST = "lost"
    DELETED = "deleted"

    ALL = (LIVE, ABANDONED, RECOVERED, CONVERTED, LOST, DELETED)
    OPEN = (LIVE, ABANDONED)  # an order can still close these


class Cart(db.Model):
    __tablename__ = "cart"
    __table_args__ = (
        sa.UniqueConstraint("store_id", "token"),
        # The abandon sweep reads only live carts that are due: (status, abandon_due_at) makes that a range scan.
        sa.Index("ix_cart_status_abandon_due", "status", "abandon_due_at"),
        sa.Index("ix_cart_status_lost_due", "status", "lost_due_at"),
        sa.Index("ix_cart_store_activity", "store_id", "last_activity_at"),
        sa.Index("ix_cart_customer_status", "customer_id", "status"),
        # Reports (migration 0006): the recovery cohort (carts abandoned in a period) and carts created in a period
        # as index-only range scans on PostgreSQL; the INCLUDE columns are the ones the report queries read.
        sa.Index("ix_cart_store_abandoned", "store_id", "abandoned_at",
                 postgresql_include=["id", "status", "reachable", "control_group", "total"]),
        sa.Index("ix_cart_store_created", "store_id", "created_at", postgresql_include=["id", "abandoned_at"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"))
    token: Mapped[str] = mapped_column(sa.String(128))
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customer.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(sa.String(16), default=CartStatus.LIVE)
    currency: Mapped[str] = mapped_column(sa.String(3))
    subtotal: Mapped[Decimal] = mapped_column(MONEY)
    total: Mapped[Decimal] = mapped_column(MONEY)
    item_count: Mapped[int] = mapped_column(default=0)
    recovery_url: Mapped[str | None] = mapped_column(sa.String(2048))
    reachable: Mapped[bool] = mapped_column(default=False)  # has an email or phone to send to
    control_group: Mapped[bool] = mapped_column(default=False)  # in the holdout: abandoned, never messaged
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime())
    abandon_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # last activity + the store's cut-off
    abandoned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lost_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # after the last step + grace, if no order
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)

    customer: Mapped[Customer | None] = relationship()
    items: Mapped[list["CartItem"]] = relationship(
        back_populates="cart", cascade="all, delete-orphan", order_by="CartItem.position", passive_deletes=True
    )

    @property
    def is_guest(self) -> bool:
        return self.customer is None or self.customer.is_guest


class CartItem(db.Model):
    __tablename__ = "cart_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    cart_id: Mapped[int] = mapped_column(sa.ForeignKey("cart.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column()
    product_id: Mapped[str] = mapped_column(sa.String(64))
    variant_id: Mapped[str | None] = mapped_column(sa.String(64))
    sku: Mapped[str | None] = mapped_column(sa.String(100))
    name: Mapped[str] = mapped_column(sa.String(300))
    quantity: Mapped[int] = mapped_column()
    price: Mapped[Decimal] = mapped_column(MONEY)
    image_url: Mapped[str | None] = mapped_column(sa.String(2048))
    product_url: Mapped[str | None] = mapped_column(sa.String(2048))

    cart: Mapped[Cart] = relationship(back_populates="items")

    @property
    def currency(self) -> str:
        return self.cart.currency

    @property
    def line_total(self) -> Decimal:
        return self.price * self.quantity
