"""Coupons, the daily series, before/after, and the holdout's true lift."""
from __future__ import annotations

import csv
import io
import math
from datetime import timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from retainful.extensions import db
from retainful.models import Cart, CartStatus, Coupon, CouponKind, CouponRedemption, Order, Store
from retainful.orders.attribution import VOID_STATUSES
from retainful.reports.period import Period, today
from retainful.reports.recovery import ZERO, _ratio, recovered_orders

MIN_HISTORY_COVERAGE = 0.75  # orders must reach back over 3/4 of the "before" window for a fair comparison
MIN_HOLDOUT_SAMPLE = 30  # per group; below this a confidence interval says more about noise than lift
Z_95 = 1.959964


def _valid_orders(store: Store):
    return (Order.store_id == store.id, Order.status.not_in(VOID_STATUSES), Order.currency == store.currency)


def coupon_report(store: Store, period: Period) -> dict[str, Any]:
    """Per kind: coupons issued in the period, how many were redeemed (through the API or seen on an order), and the
    orders that used them with their revenue. Issued codes stay in SQL as a subquery: a month can issue more codes
    than a statement may carry as parameters."""
    report = {}
    for kind in (CouponKind.RECOVERY, CouponKind.NEXT_ORDER):
        issued = (sa.select(Coupon.id, Coupon.code)
                  .where(Coupon.store_id == store.id, Coupon.kind == kind, Coupon.created_at >= period.start,
                         Coupon.created_at < period.end).subquery())
        codes = set(db.session.scalars(sa.select(issued.c.code)))
        redeemed = set(db.session.scalars(sa.select(issued.c.code).join(
            CouponRedemption, CouponRedemption.coupon_id == issued.c.id).distinct()))
        used = []
        if codes:  # orders since the period began that carry one of these codes
            for total, order_codes in db.session.execute(sa.select(Order.total, Order.coupon_codes).where(
                    *_valid_orders(store), Order.placed_at >= period.start)):
                hits = codes.intersection(order_codes or ())
                if hits:
                    used.append(total)
                    redeemed |= hits
        report[kind] = {"issued": len(codes), "redeemed": len(redeemed),
                        "redemption_rate": _ratio(len(redeemed), len(codes)),
                        "orders": len(used), "revenue": sum((Decimal(t) for t in used), ZERO)}
    report["currency"] = store.currency
    return report


def daily(store: Store, period: Period) -> list[dict[str, Any]]:
    """One row per store-local day: carts created and abandoned, orders and revenue, recovered carts and revenue."""
    days = period.day_bounds()

    def per_day(column, *conditions, value=None):
        measure = sa.func.count(column) if value is None else sa.func.coalesce(sa.func.sum(value), 0)
        query = (sa.select(days.c.day, measure).select_from(days)
                 .join(column.table, sa.and_(column >= days.c.day_start, column < days.c.day_end, *conditions))
                 .group_by(days.c.day))
        return dict(db.session.execute(query).all())

    created = per_day(Cart.created_at, Cart.store_id == store.id)
    abandoned = per_day(Cart.abandoned_at, Cart.store_id == store.id)
    orders = per_day(Order.placed_at, *_valid_orders(store))
    revenue = per_day(Order.placed_at, *_valid_orders(store), value=Order.total)
    recovered = per_day(Order.placed_at, *recovered_orders(store))
    recovered_revenue = per_day(Order.placed_at, *recovered_orders(store), value=Order.total)
    rows = []
    for day in period.days:
        key = day.isoformat()
        rows.append({"date": key, "carts_created": created.get(key, 0), "abandoned": abandoned.get(key, 0),
                     "orders": orders.get(key, 0), "revenue": Decimal(revenue.get(key, 0)),
                     "recovered": recovered.get(key, 0), "recovered_revenue": Decimal(recovered_revenue.get(key, 0))})
    return rows


def daily_csv(store: Store, period: Period) -> str:
    out = io.StringIO()
    rows = daily(store, period)
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["date"])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _window(store: Store, period: Period) -> dict[str, Any]:
    orders, revenue = db.session.execute(sa.select(sa.func.count(Order.id), sa.func.coalesce(
        sa.func.sum(Order.total), 0)).where(*_valid_orders(store), Order.placed_at >= period.start,
                                            Order.placed_at < period.end)).one()
    carts = db.session.scalar(sa.select(sa.func.count(Cart.id)).where(
        Cart.store_id == store.id, Cart.created_at >= period.start, Cart.created_at < period.end))
    abandoned = db.session.scalar(sa.select(sa.func.count(Cart.id)).where(
        Cart.store_id == store.id, Cart.created_at >= period.start, Cart.created_at < period.end,
        Cart.abandoned_at.is_not(None)))
    recovered = Decimal(db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Order.total), 0)).where(
        *recovered_orders(store), Order.placed_at >= period.start, Order.placed_at < period.end)))
    revenue = Decimal(revenue)
    return {"from": period.start_date.isoformat(), "to": period.end_date.isoformat(), "orders": orders,
            "revenue": revenue, "average_order_value": (revenue / orders).quantize(Decimal("0.01")) if orders else ZERO,
            "abandonment_rate": _ratio(abandoned, carts), "recovered_revenue": recovered,
            "recovered_share": _ratio(recovered, revenue)}


def _change(before, after) -> float | None:
    """Percent change; None where the before figure is zero (no honest percentage exists)."""
    return round((float(after) - float(before)) / float(before) * 100, 2) if before else None


def before_after(store: Store, days: int = 30) -> dict[str, Any]:
    """Equal windows before and after recovery was switched on. With too little history before the split, says so."""
    split = store.recovery_started_at or store.created_at
    split_day = split.astimezone(ZoneInfo(store.timezone)).date()
    elapsed = (today(store) - split_day).days
    window = max(1, min(days, elapsed))
    before = Period(split_day - timedelta(days=window), split_day - timedelta(days=1), store.timezone)
    after = Period(split_day, split_day + timedelta(days=window - 1), store.timezone)
    first_seen = db.session.scalar(sa.select(sa.func.min(Order.placed_at)).where(Order.store_id == store.id))
    covered = (after.start - first_seen) / (after.start - before.start) if first_seen else 0
    enough = elapsed >= 1 and covered >= MIN_HISTORY_COVERAGE
    result: dict[str, Any] = {"split_at": split.isoformat(), "window_days": window, "currency": store.currency,
                              "enough_history": enough, "after": _window(store, after)}
    if not enough:
        result.update(before=None, change=None, note=(
            f"Not enough history before recovery was switched on: {window} days of orders before "
            f"{split_day.isoformat()} are needed for a fair comparison. Import past orders (the WooCommerce order "
            "pull covers this) or use the holdout report."))
    else:
        result["before"] = _window(store, before)
        result["change"] = {key: _change(result["before"][key], result["after"][key]) for key in
                            ("orders", "revenue", "average_order_value", "abandonment_rate", "recovered_revenue",
                             "recovered_share")}
        result["note"] = None
    series = Period(before.start_date, after.end_date, store.timezone)
    result["daily"] = [{"date": row["date"], "revenue": row["revenue"], "recovered_revenue": row["recovered_revenue"],
                        "orders": row["orders"]} for row in daily(store, series)]
    return result


def holdout(store: Store, period: Period) -> dict[str, Any]:
    """Messaged vs control carts abandoned in the period: who ordered afterwards, the lift and its 95% interval."""
    base = (Cart.store_id == store.id, Cart.abandoned_at >= period.start, Cart.abandoned_at < period.end,
            Cart.reachable.is_(True))
    ordered = (CartStatus.RECOVERED, CartStatus.CONVERTED)
    groups = {}
    for name, in_control in (("messaged", False), ("control", True)):
        n, wins = db.session.execute(sa.select(sa.func.count(Cart.id), sa.func.count(
            sa.case((Cart.status.in_(ordered), 1)))).where(*base, Cart.control_group.is_(in_control))).one()
        value = Decimal(db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Order.total), 0)).join(
            Cart, Cart.id == Order.cart_id).where(*base, *_valid_orders(store), Cart.control_group.is_(in_control))))
        groups[name] = {"carts": n, "ordered": wins, "rate": _ratio(wins, n), "revenue": value}
    treated, control = groups["messaged"], groups["control"]
    result = {"holdout_percent": store.holdout_percent, "currency": store.currency, **groups,
              "lift": None, "ci95": None, "p_value": None, "incremental_revenue": None, "significant": None}
    if min(treated["carts"], control["carts"]) < MIN_HOLDOUT_SAMPLE:
        result["note"] = (f"Too few carts to measure lift: each group needs at least {MIN_HOLDOUT_SAMPLE} "
                          "reachable abandoned carts" + ("" if store.holdout_percent else
                                                         " (the holdout is off: set a holdout share)") + ".")
        return result
    p1, n1, p2, n2 = treated["rate"], treated["carts"], control["rate"], control["carts"]
    diff = p1 - p2
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)  # unpooled, so the p-value agrees with the interval
    margin = Z_95 * se
    p_value = math.erfc(abs(diff / se) / math.sqrt(2)) if se else 1.0
    average = treated["revenue"] / treated["ordered"] if treated["ordered"] else ZERO
    result.update(lift=round(diff, 6), ci95=[round(diff - margin, 6), round(diff + margin, 6)],
                  p_value=round(p_value, 6), significant=p_value < 0.05,
                  incremental_revenue=(Decimal(str(diff)) * n1 * average).quantize(Decimal("0.01")), note=None)
    return result
