"""A storefront cart and its lines."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

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
        # Reports (migrations 0006, 0008): the recovery cohort (carts abandoned in a period) and carts created in a period
        # as index-only range scans on PostgreSQL; the INCLUDE columns are the ones the report queries read.
        sa.Index("ix_cart_store_abandoned", "store_id", "abandoned_at",
                 postgresql_include=["id", "status", "reachable", "control_group", "total", "messaged_at",
                                     "clicked_at"]),
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
    # The first recovery message sent for this cart, and the first click on one: kept on the cart as messages are
    # sent and clicked, so the reports count messaged and clicked carts without reading the outbox.
    messaged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    clicked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list, server_default=sa.text("'[]'"))
    # A cart reported by the Retainful plugin keeps its whole decrypted snapshot (the plugin rebuilds the cart from it)
    # and the snapshot's own updated_at, so an older snapshot arriving late cannot roll the cart back.
    plugin_snapshot: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    plugin_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    customer: Mapped[Customer | None] = relationship()

    @property
    def items(self) -> list[CartLine]:
        return [CartLine.from_stored(line, self.currency) for line in self.lines]

    @property
    def is_guest(self) -> bool:
        return self.customer is None or self.customer.is_guest


LINE_FIELDS = ("product_id", "variant_id", "sku", "name", "quantity", "price", "image_url", "product_url")


@dataclass(frozen=True)
class CartLine:
    """One line of a cart. Lines live in the cart's row as JSON (``Cart.lines``): a report always replaces the whole
    list, and nothing looks a line up on its own, so rows of their own cost a DELETE and an INSERT per report for
    nothing."""

    product_id: str
    name: str
    quantity: int
    price: Decimal
    currency: str
    variant_id: str | None = None
    sku: str | None = None
    image_url: str | None = None
    product_url: str | None = None

    @classmethod
    def from_stored(cls, line: dict[str, Any], currency: str) -> CartLine:
        return cls(**{**line, "price": Decimal(line["price"]), "currency": currency})

    @staticmethod
    def stored(item: dict[str, Any]) -> dict[str, Any]:
        """A reported item as kept in ``Cart.lines``: the price as an exact decimal string, absent fields left out."""
        line = {field: item.get(field) for field in LINE_FIELDS if item.get(field) is not None}
        line["price"] = str(line["price"])
        return line

    @property
    def line_total(self) -> Decimal:
        return self.price * self.quantity
