"""Recovered revenue: the real totals of orders credited to a recovery message, less those voided since."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from retainful.extensions import db
from retainful.models import Order, Store
from retainful.orders.attribution import VOID_STATUSES


def recovered_revenue(store: Store, start: datetime | None = None, end: datetime | None = None) -> dict[str, Decimal]:
    """{currency: total} of recovered orders placed in [start, end); cancelled/refunded/failed orders do not count."""
    conditions = [Order.store_id == store.id, Order.attributed_message_id.is_not(None),
                  Order.status.not_in(VOID_STATUSES)]
    if start is not None:
        conditions.append(Order.placed_at >= start)
    if end is not None:
        conditions.append(Order.placed_at < end)
    rows = db.session.execute(sa.select(Order.currency, sa.func.sum(Order.total)).where(*conditions)
                              .group_by(Order.currency))
    return {currency: Decimal(total) for currency, total in rows}
