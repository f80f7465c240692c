"""A storefront product the store told us about (``PUT /api/v1/products/<product_id>``, or the admin), keyed by
the shop's own product id, so an order's lines find it. Only what an automation needs: its name and how long it
lasts (``replenish_after_days``: the replenishment reminder comes that many days after an order of it)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from retainful import clock
from retainful.extensions import db
from retainful.models.types import UTCDateTime

REPLENISH_DAYS = (1, 365)  # the bounds of replenish_after_days


class Product(db.Model):
    __tablename__ = "product"
    __table_args__ = (sa.UniqueConstraint("store_id", "product_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[str] = mapped_column(sa.String(64))  # the shop's id, as in a cart's or an order's lines
    name: Mapped[str] = mapped_column(sa.String(300))
    replenish_after_days: Mapped[int | None] = mapped_column()  # None: no replenishment reminder
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now, onupdate=clock.now)
