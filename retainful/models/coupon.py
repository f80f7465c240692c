"""Coupons we issue: recovery coupons for an abandoned cart and next-order coupons after a purchase."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from retainful import clock
from retainful.extensions import db
from retainful.models.types import MONEY, UTCDateTime


class CouponKind:
    RECOVERY = "recovery"
    NEXT_ORDER = "next_order"
    WIN_BACK = "win_back"
    WELCOME = "welcome"  # a subscriber's first-purchase code
    BIRTHDAY = "birthday"
    CONVERSATION = "conversation"  # minted for an agent's reply that uses {{ coupon }}
    CAMPAIGN = "campaign"  # a campaign's coupon rule: one code per recipient, shared by its email and SMS


class DiscountType:
    PERCENT = "percent"
    FIXED = "fixed"
    FREE_SHIPPING = "free_shipping"

    ALL = (PERCENT, FIXED, FREE_SHIPPING)


class SyncState:
    NOT_CONNECTED = "not_connected"  # the store has no way into its shop: no WooCommerce keys, no plugin
    PENDING = "pending"
    SYNCED = "synced"
    FAILED = "failed"


class Coupon(db.Model):
    __tablename__ = "coupon"
    __table_args__ = (
        sa.UniqueConstraint("store_id", "code"),
        sa.UniqueConstraint("cart_id", "kind"),  # one recovery coupon per cart, reused by its later steps
        sa.UniqueConstraint("order_id", "kind"),  # one next-order coupon per order
        sa.Index("ix_coupon_sync_due", "sync_state", "sync_due_at"),
        # Reports (migration 0006): the coupons of one kind issued in a period, index-only on PostgreSQL.
        sa.Index("ix_coupon_store_kind_created", "store_id", "kind", "created_at", postgresql_include=["id", "code"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(sa.String(32))
    kind: Mapped[str] = mapped_column(sa.String(16))
    discount_type: Mapped[str] = mapped_column(sa.String(16))
    amount: Mapped[Decimal] = mapped_column(MONEY)  # percent (10 = 10%) or money in `currency`
    currency: Mapped[str] = mapped_column(sa.String(3))
    minimum_total: Mapped[Decimal | None] = mapped_column(MONEY)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    usage_limit: Mapped[int] = mapped_column(default=1)
    usage_count: Mapped[int] = mapped_column(default=0)
    email: Mapped[str | None] = mapped_column(sa.String(254))  # restricted to this customer
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customer.id", ondelete="SET NULL"), index=True)
    cart_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cart.id", ondelete="SET NULL"))
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("shop_order.id", ondelete="SET NULL"))
    sync_state: Mapped[str] = mapped_column(sa.String(16), default=SyncState.NOT_CONNECTED)
    sync_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sync_attempts: Mapped[int] = mapped_column(default=0)
    sync_error: Mapped[str | None] = mapped_column(sa.String(1000))
    woo_coupon_id: Mapped[str | None] = mapped_column(sa.String(32))
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class CouponRedemption(db.Model):
    __tablename__ = "coupon_redemption"
    __table_args__ = (sa.UniqueConstraint("coupon_id", "order_external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"), index=True)
    coupon_id: Mapped[int] = mapped_column(sa.ForeignKey("coupon.id", ondelete="CASCADE"))
    order_external_id: Mapped[str] = mapped_column(sa.String(64))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    redeemed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
