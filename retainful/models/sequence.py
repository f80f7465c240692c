"""A store's settings for one automation (``kind``, unique per store): on or off, and its ordered steps, each a delay
after the automation's trigger (a cart's last activity, an order, ...), an optional local send hour, and channels."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retainful.extensions import db
from retainful.models.types import MONEY, UTCDateTime

ABANDONED_CART = "abandoned_cart"


class Sequence(db.Model):
    __tablename__ = "sequence"
    __table_args__ = (sa.UniqueConstraint("store_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(32), default=ABANDONED_CART)
    enabled: Mapped[bool] = mapped_column(default=True)
    # Where a scanning automation (win_back) last stopped: the trigger time and row id of the last subject it planned,
    # so each run reads the next stretch of an index instead of every customer (migration 0018).
    cursor_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cursor_id: Mapped[int | None] = mapped_column()

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
    delay_minutes: Mapped[int] = mapped_column()  # after the automation's trigger
    # Send at this hour of the recipient's local day (the first such hour at or after the delay); None: at the delay.
    at_hour: Mapped[int | None] = mapped_column()
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
