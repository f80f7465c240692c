"""Coupons, the daily series, before/after, and the holdout's true lift."""
from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from retainful.extensions import db
from retainful.models import Cart, CartStatus, Coupon, CouponKind, CouponRedemption, Order, Store
from retainful.money import format_amount
from retainful.plurals import counted
from retainful.orders.attribution import VOID_STATUSES
from retainful.reports.period import Period, today
from retainful.reports.recovery import CREDITED, ZERO, _ratio
from retainful.words import N_

MIN_HISTORY_COVERAGE = 0.75  # orders must reach back over 3/4 of the "before" window for a fair comparison
MIN_HOLDOUT_SAMPLE = 30  # per group; below this a confidence interval says more about noise than lift
Z_95 = 1.959964


def _valid_orders(store: Store):
    return (Order.store_id == store.id, Order.status.not_in(VOID_STATUSES), Order.currency == store.currency)


def coupon_report(store: Store, period: Period) -> dict[str, Any]:
    """Per kind: coupons issued in the period, how many were redeemed (through the API or seen on an order), and the
    orders that used them with their revenue. Issued codes stay in SQL as a subquery: a month can issue more codes
    than a statement may carry as parameters. Orders are read once for both kinds, and only those carrying a code."""
    kinds = (CouponKind.RECOVERY, CouponKind.NEXT_ORDER, CouponKind.WIN_BACK)
    issued = (sa.select(Coupon.id, Coupon.kind, Coupon.code)
              .where(Coupon.store_id == store.id, Coupon.kind.in_(kinds), Coupon.created_at >= period.start,
                     Coupon.created_at < period.end).subquery())
    codes: dict[str, set] = {kind: set() for kind in kinds}
    redeemed: dict[str, set] = {kind: set() for kind in kinds}
    for found, query in ((codes, sa.select(issued.c.kind, issued.c.code)),
                         (redeemed, sa.select(issued.c.kind, issued.c.code).join(
                             CouponRedemption, CouponRedemption.coupon_id == issued.c.id).distinct())):
        for kind, code in db.session.connection().execute(query):  # Core: 100k+ plain rows, no ORM result handling
            found[kind].add(code)
    used: dict[str, list] = {kind: [] for kind in kinds}
    if any(codes.values()):  # orders since the period began that carry one of these codes
        for total, order_codes in db.session.execute(sa.select(Order.revenue, Order.coupon_codes).where(
                *_valid_orders(store), Order.placed_at >= period.start,
                sa.cast(Order.coupon_codes, sa.Text) != "[]")):  # most orders carry none: skip them in SQL
            for kind in kinds:
                hits = codes[kind].intersection(order_codes or ())
                if hits:
                    used[kind].append(total)
                    redeemed[kind] |= hits
    report: dict[str, Any] = {kind: {"issued": len(codes[kind]), "redeemed": len(redeemed[kind]),
                                     "redemption_rate": _ratio(len(redeemed[kind]), len(codes[kind])),
                                     "orders": len(used[kind]), "revenue": sum((Decimal(t) for t in used[kind]), ZERO)}
                              for kind in kinds}
    report["currency"] = store.currency
    return report


def _per_day(days, column, conditions, *measures) -> defaultdict[str, tuple]:
    """``measures`` of the rows whose ``column`` falls in each store-local day, by day (zeros for a day with none)."""
    query = (sa.select(days.c.day, *measures).select_from(days)
             .join(column.table, sa.and_(column >= days.c.day_start, column < days.c.day_end, *conditions))
             .group_by(days.c.day))
    zeros = (0,) * len(measures)
    return defaultdict(lambda: zeros, {day: tuple(values) for day, *values in db.session.execute(query)})


def _total(*conditions):
    """The sum of the orders' revenue (totals less refunds; of those meeting ``conditions``), 0 when there are none."""
    return sa.func.coalesce(sa.func.sum(Order.revenue).filter(*conditions), 0)


def daily(store: Store, period: Period) -> list[dict[str, Any]]:
    """One row per store-local day: carts created and abandoned, orders and revenue, recovered carts and revenue."""
    days = period.day_bounds()
    created = _per_day(days, Cart.created_at, (Cart.store_id == store.id,), sa.func.count(Cart.id))
    abandoned = _per_day(days, Cart.abandoned_at, (Cart.store_id == store.id,), sa.func.count(Cart.id))
    orders = _per_day(days, Order.placed_at, _valid_orders(store), sa.func.count(Order.id), _total(),
                      sa.func.count(Order.id).filter(CREDITED), _total(CREDITED))
    rows = []
    for day in period.days:
        key = day.isoformat()
        count, revenue, recovered, recovered_revenue = orders[key]
        rows.append({"date": key, "carts_created": created[key][0], "abandoned": abandoned[key][0], "orders": count,
                     "revenue": Decimal(revenue), "recovered": recovered,
                     "recovered_revenue": Decimal(recovered_revenue)})
    return rows


def daily_csv(store: Store, period: Period) -> str:
    """The daily series as CSV, money with the currency's decimals ("43.00" USD, "43000" KRW)."""
    out = io.StringIO()
    rows = [{key: format_amount(value, store.currency) if isinstance(value, Decimal) else value
             for key, value in row.items()} for row in daily(store, period)]
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["date"])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _window(store: Store, period: Period) -> dict[str, Any]:
    orders, revenue, recovered = db.session.execute(
        sa.select(sa.func.count(Order.id), _total(), _total(CREDITED))
        .where(*_valid_orders(store), Order.placed_at >= period.start, Order.placed_at < period.end)).one()
    carts, abandoned = db.session.execute(sa.select(
        sa.func.count(Cart.id), sa.func.count(Cart.id).filter(Cart.abandoned_at.is_not(None))).where(
        Cart.store_id == store.id, Cart.created_at >= period.start, Cart.created_at < period.end)).one()
    revenue, recovered = Decimal(revenue), Decimal(recovered)
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
        result.update(before=None, change=None, note=N_(
            "Not enough history before recovery was switched on: %(window)s of orders before %(day)s are needed for "
            "a fair comparison. Import past orders (the WooCommerce order pull covers this) or use the holdout "
            "report.", window=counted(window, "days"), day=split_day.isoformat()))
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
    carts = {group: (n, wins) for group, n, wins in db.session.execute(
        sa.select(Cart.control_group, sa.func.count(Cart.id), sa.func.count(Cart.id).filter(Cart.status.in_(ordered)))
        .where(*base).group_by(Cart.control_group))}
    revenue = dict(db.session.execute(
        sa.select(Cart.control_group, _total()).join(Cart, Cart.id == Order.cart_id)
        .where(*base, *_valid_orders(store)).group_by(Cart.control_group)).all())
    groups = {}
    for name, in_control in (("messaged", False), ("control", True)):
        n, wins = carts.get(in_control, (0, 0))
        groups[name] = {"carts": n, "ordered": wins, "rate": _ratio(wins, n),
                        "revenue": Decimal(revenue.get(in_control, 0))}
    treated, control = groups["messaged"], groups["control"]
    result = {"holdout_percent": store.holdout_percent, "currency": store.currency, **groups,
              "lift": None, "ci95": None, "p_value": None, "incremental_revenue": None, "significant": None}
    if min(treated["carts"], control["carts"]) < MIN_HOLDOUT_SAMPLE:
        result["note"] = N_("Too few carts to measure lift: each group needs at least %(num)s reachable abandoned "
                            "carts.", num=MIN_HOLDOUT_SAMPLE) if store.holdout_percent else N_(
            "Too few carts to measure lift: each group needs at least %(num)s reachable abandoned carts (the holdout "
            "is off: set a holdout share).", num=MIN_HOLDOUT_SAMPLE)
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
