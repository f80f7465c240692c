"""Server-side SVG charts for the admin: no JavaScript, no CDN, so the panel works offline.

One function draws a daily series as lines or grouped bars, with axes, tick labels, axis titles, a legend and a
tooltip (<title>) on every point.
"""
from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, Iterable, Sequence

from flask_babel import gettext as _, lazy_gettext as _l
from markupsafe import Markup, escape

Series = tuple[str, str, str]  # (row key, legend label, colour)

# Legend labels are lazy: each chart draws them in its reader's language.
ABANDONED_VS_RECOVERED: tuple[Series, ...] = (("abandoned", _l("Abandoned carts"), "#d9534f"),
                                              ("recovered", _l("Recovered carts"), "#28a745"))
REVENUE: tuple[Series, ...] = (("revenue", _l("Revenue"), "#007bff"),
                               ("recovered_revenue", _l("Recovered revenue"), "#28a745"))

REASONS_CARTS: tuple[Series, ...] = (("carts", _l("Carts"), "#6c757d"), ("recovered", _l("Recovered"), "#28a745"))

LEFT, RIGHT, TOP, BOTTOM = 64, 16, 34, 52


def _nice(value: float) -> float:
    """1, 2 or 5 times a power of ten, at least ``value``."""
    if value <= 0:
        return 1.0
    exponent = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if value <= factor * exponent:
            return factor * exponent
    return 10 * exponent


def _ticks(maximum: float, integers: bool) -> list[float]:
    step = _nice(maximum / 4) if maximum > 0 else 1.0
    if integers:
        step = max(1.0, math.ceil(step))
    top = step * max(1, math.ceil(maximum / step))
    return [step * i for i in range(int(round(top / step)) + 1)]


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    return float(value) if isinstance(value, (int, float, Decimal)) else float(str(value))


def _label(value: float, integers: bool) -> str:
    if integers or value == int(value):
        return f"{int(value):,}"
    return f"{value:,.2f}"


def _day_label(value: str) -> str:
    """ISO date -> MM-DD (the year is in the chart's title)."""
    return value[5:] if len(value) == 10 and value[4] == "-" else value


def daily_chart(rows: Sequence[dict[str, Any]], series: Iterable[Series], *, chart_id: str, title: str,
                y_label: str, x_key: str = "date", x_label: str = _l("Day (store time)"), kind: str = "line",
                width: int = 760, height: int = 280) -> Markup:
    """An SVG chart of ``rows`` (one per day), one line or bar per series; ``kind`` is "line" or "bar"."""
    series = list(series)
    values = [[_number(row.get(key)) for row in rows] for key, _, _ in series]
    integers = all(isinstance(row.get(key), int) for row in rows for key, _, _ in series)
    maximum = max((v for column in values for v in column), default=0.0)
    ticks = _ticks(maximum, integers)
    top = ticks[-1] or 1.0
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    n = len(rows)

    def y(value: float) -> float:
        return TOP + plot_h - (value / top) * plot_h

    def x(index: int) -> float:
        if kind == "bar":
            return LEFT + (index + 0.5) * plot_w / max(n, 1)
        return LEFT + (plot_w / 2 if n == 1 else index * plot_w / (n - 1))

    out: list[str] = [
        f'<svg id="{escape(chart_id)}" class="rt-chart" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="100%" role="img" aria-labelledby="{escape(chart_id)}-title" '
        f'data-points="{n}" style="max-width:{width}px;font-family:sans-serif;font-size:11px">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
    ]
    # Grid and y axis ticks.
    for tick in ticks:
        ty = y(tick)
        out.append(f'<line x1="{LEFT}" y1="{ty:.1f}" x2="{LEFT + plot_w}" y2="{ty:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end" fill="#555">'
                   f'{escape(_label(tick, integers))}</text>')
    out.append(f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#333"/>')
    out.append(f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" '
               'stroke="#333"/>')
    # X tick labels: about ten at most.
    every = max(1, math.ceil(n / 10))
    for index, row in enumerate(rows):
        if index % every == 0 or (index == n - 1 and index % every >= every / 2):
            out.append(f'<text x="{x(index):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" fill="#555">'
                       f'{escape(_day_label(str(row.get(x_key, ""))))}</text>')
    # Axis titles.
    out.append(f'<text class="axis-label" x="{LEFT + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle" '
               f'fill="#333">{escape(x_label)}</text>')
    out.append(f'<text class="axis-label" x="14" y="{TOP + plot_h / 2:.1f}" text-anchor="middle" fill="#333" '
               f'transform="rotate(-90 14 {TOP + plot_h / 2:.1f})">{escape(y_label)}</text>')
    # Data.
    bar_w = (plot_w / max(n, 1)) * 0.8 / max(len(series), 1)
    for s_index, ((key, label, colour), column) in enumerate(zip(series, values)):
        out.append(f'<g class="series" data-series="{escape(key)}">')
        if kind == "bar":
            for index, value in enumerate(column):
                bx = x(index) - bar_w * len(series) / 2 + s_index * bar_w
                out.append(f'<rect x="{bx:.1f}" y="{y(value):.1f}" width="{max(bar_w, 1):.1f}" '
                           f'height="{TOP + plot_h - y(value):.1f}" fill="{escape(colour)}">'
                           f'<title>{escape(rows[index].get(x_key))}: {escape(_label(value, integers))} '
                           f'{escape(label.lower())}</title></rect>')
        else:
            points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(column))
            if n > 1:
                out.append(f'<polyline fill="none" stroke="{escape(colour)}" stroke-width="2" points="{points}"/>')
            for index, value in enumerate(column):
                out.append(f'<circle cx="{x(index):.1f}" cy="{y(value):.1f}" r="3" fill="{escape(colour)}">'
                           f'<title>{escape(rows[index].get(x_key))}: {escape(_label(value, integers))} '
                           f'{escape(label.lower())}</title></circle>')
        out.append("</g>")
    # Legend.
    lx = LEFT
    for key, label, colour in series:
        out.append(f'<rect x="{lx}" y="10" width="12" height="12" fill="{escape(colour)}"/>'
                   f'<text x="{lx + 16}" y="20" fill="#333">{escape(label)}</text>')
        lx += 24 + 7 * len(label)
    if not n:
        out.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{TOP + plot_h / 2:.1f}" text-anchor="middle" '
                   f'fill="#777">{escape(_("No data in this period"))}</text>')
    out.append("</svg>")
    return Markup("".join(out))
