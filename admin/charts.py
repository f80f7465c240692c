"""The data of the admin's charts: one builder (``chart``) for every page; ``static/charts.js`` draws it with the
vendored Chart.js (no CDN: the panel works offline).

A chart is a dict the page puts in a ``<script type="application/json">`` block (``_chart.html``): labels, one dataset
per series (bars or a line, counts on the left axis, money on the right one) and the store's currency and locale for
the tooltips. Money leaves Decimal only here, as numbers for drawing; every figure a reader relies on is also in the
page as text: the canvas's aria summary and a table (the chart's own, or ``table_id``, one the page already has).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Iterable, Sequence

from flask_babel import gettext as _, lazy_gettext as _l

from retainful_admin.formatting import money
from retainful_admin.i18n import word
from retainful.automations import registry
from retainful.models import Store


@dataclass(frozen=True)
class Series:
    key: str  # the row's key
    label: str  # the legend's words (lazily translated)
    colour: str
    kind: str = "bar"  # "bar" or "line": a line over bars keeps both series visible when they are equal
    money: bool = False  # in the store's currency: the right-hand axis, tooltips as money


ABANDONED_VS_RECOVERED = (Series("abandoned", _l("Abandoned carts"), "#d9534f"),
                          Series("recovered", _l("Recovered carts"), "#28a745", "line"))
REVENUE = (Series("revenue", _l("Revenue"), "#007bff", money=True),
           Series("recovered_revenue", _l("Recovered revenue"), "#28a745", "line", money=True))
BEFORE_AFTER = (Series("revenue_before", _l("Revenue before"), "#6c757d", money=True),
                Series("revenue_after", _l("Revenue after"), "#007bff", money=True),
                Series("recovered_revenue", _l("Recovered revenue"), "#28a745", "line", money=True))
FUNNEL = (Series("sent", _l("Sent"), "#007bff"), Series("opened", _l("Opened"), "#17a2b8"),
          Series("clicked", _l("Clicked"), "#fd7e14"), Series("recovered", _l("Recovered"), "#28a745"))
AUTOMATION_REVENUE = (Series("revenue", _l("Revenue"), "#28a745", money=True),
                      Series("orders", _l("Orders"), "#007bff"))
REASONS = (Series("carts", _l("Carts"), "#6c757d"), Series("recovered", _l("Recovered"), "#28a745"))


def _shown(value: Any, series: Series, currency: str) -> str:
    return money(value, currency) if series.money else f"{value or 0:,}"


def _total(values: Iterable[Any]) -> Any:
    return sum((value or 0 for value in values), Decimal(0))


def chart(chart_id: str, title: str, rows: Sequence[dict[str, Any]], series: Sequence[Series], store: Store, *,
          label: Callable[[dict[str, Any]], str] = lambda row: row["date"], x_title: str | None = None,
          table_id: str | None = None) -> dict[str, Any]:
    """The chart of ``rows`` (one per day, step, reason ...), one dataset per series. ``table_id`` names a table of
    the page with the same figures; without it the chart carries its own (rows with any figure only)."""
    currency = store.currency
    labels = [label(row) for row in rows]
    columns = [[row.get(s.key) for row in rows] for s in series]
    summary = "; ".join(_("%(series)s: %(total)s in total", series=s.label, total=_shown(_total(column), s, currency))
                        for s, column in zip(series, columns))
    return {
        "id": chart_id, "title": title, "x_title": str(x_title or _("Day (store time)")), "currency": currency,
        "locale": (store.locale or "en_US").replace("_", "-"), "labels": labels,
        "datasets": [{"key": s.key, "label": str(s.label), "colour": s.colour, "kind": s.kind,
                      "axis": "money" if s.money else "count",
                      "data": [float(value or 0) if s.money else int(value or 0) for value in column]}
                     for s, column in zip(series, columns)],
        "summary": f"{title}. {summary}." if rows else _("%(title)s: nothing in this period.", title=title),
        "table_id": table_id,
        "headers": [str(s.label) for s in series],
        "table": None if table_id else [
            (labels[index], [_shown(column[index], s, currency) for s, column in zip(series, columns)])
            for index in range(len(rows)) if any(column[index] for column in columns)],
    }


def before_after_chart(before_after: dict[str, Any], store: Store) -> dict[str, Any]:
    """The daily revenue of both windows, the days before recovery was switched on in grey."""
    split = before_after["split_at"][:10]
    rows = [{"date": row["date"], "recovered_revenue": row["recovered_revenue"],
             "revenue_before" if row["date"] < split else "revenue_after": row["revenue"]}
            for row in before_after["daily"]]
    return chart("before-after-chart", _("Revenue per day before and after recovery was switched on (%(day)s)",
                                         day=split), rows, BEFORE_AFTER, store)


def automations_chart(report: dict[str, Any], store: Store, table_id: str | None = None) -> dict[str, Any]:
    """Revenue and orders credited to each automation's messages (``reports.automations_report``)."""
    return chart("automations-chart", _("Revenue by automation, %(start)s to %(end)s", start=report["from"],
                                        end=report["to"]),
                 report["automations"], AUTOMATION_REVENUE, store, x_title=_("Automation"), table_id=table_id,
                 label=lambda row: word(registry.get(row["kind"]).title))
