"""Recovered revenue: the real totals of orders credited to a recovery message, less refunds and those voided since."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from retainful.extensions import db
from retainful.models import Order, Store
from retainful.reports.recovery import recovered_orders


def recovered_revenue(store: Store, start: datetime | None = None, end: datetime | None = None) -> Decimal:
    """Recovered revenue of orders placed in [start, end), in the store's currency; refunds take it back."""
    conditions = list(recovered_orders(store))
    if start is not None:
        conditions.append(Order.placed_at >= start)
    if end is not None:
        conditions.append(Order.placed_at < end)
    return Decimal(db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Order.revenue), 0)).where(*conditions)))
