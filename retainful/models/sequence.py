"""A store's recovery sequence: ordered steps, each a delay after the cart's last activity and its channels."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retainful.extensions import db
from retainful.models.types import MONEY

ABANDONED_CART = "abandoned_cart"


class Sequence(db.Model):
    __tablename__ = "sequence"
    __table_args__ = (sa.UniqueConstraint("store_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(32), default=ABANDONED_CART)
    enabled: Mapped[bool] = mapped_column(default=True)

    steps: Mapped[list["Step"]] = relationship(
        back_populates="sequence", cascade="all, delete-orphan", order_by="Step.position", passive_deletes=True
    )


class Step(db.Model):
    __tablename__ = "step"
    __table_args__ = (sa.UniqueConstraint("sequence_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"), index=True)
    sequence_id: Mapped[int] = mapped_column(sa.ForeignKey("sequence.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column()  # 1-based, in delay order
    delay_minutes: Mapped[int] = mapped_column()  # after the cart's last activity
    email: Mapped[bool] = mapped_column(default=True)
    sms: Mapped[bool] = mapped_column(default=False)
    enabled: Mapped[bool] = mapped_column(default=True)
    # The coupon rule: a discount type (percent, fixed, free_shipping) or None for no coupon on this step.
    coupon_type: Mapped[str | None] = mapped_column(sa.String(16))
    coupon_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    coupon_minimum: Mapped[Decimal | None] = mapped_column(MONEY)
    coupon_valid_hours: Mapped[int] = mapped_column(default=48)

    sequence: Mapped[Sequence] = relationship(back_populates="steps")

    @property
    def delay(self) -> timedelta:
        return timedelta(minutes=self.delay_minutes)

    @property
    def channels(self) -> tuple[str, ...]:
        """The registered channels this step is on: each has a boolean column named after it."""
        from retainful.channels import names  # the registry's modules import the models' package

        return tuple(name for name in names() if getattr(self, name))
