"""Reports over the API: JSON with amounts as decimal strings in the store's currency, and a daily CSV."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Response, jsonify, request

from retainful import reports
from retainful.api.request import current_store
from retainful.api.views import bp
from retainful.errors import FieldError
from retainful.money import format_amount


def jsonable(value: Any, currency: str) -> Any:
    """Money (Decimal) as decimal strings with the currency's places; everything else as it is."""
    if isinstance(value, Decimal):
        return format_amount(value, currency)
    if isinstance(value, dict):
        return {key: jsonable(item, currency) for key, item in value.items()}
    if isinstance(value, list):
        return [jsonable(item, currency) for item in value]
    return value


def _period():
    args = request.args
    for name in ("from", "to", "days"):  # the document says date / integer; the admin's blank boxes mean "default"
        if args.get(name) == "":
            raise FieldError(name, "Must not be empty: leave the parameter out for its default.")
    return reports.resolve_period(current_store(), args.get("from"), args.get("to"), args.get("days"))


def _json(data):
    return jsonify(jsonable(data, current_store().currency))


@bp.get("/reports/summary")
def report_summary():
    return _json(reports.summary(current_store(), _period()))


@bp.get("/reports/funnel")
def report_funnel():
    period = _period()
    return _json({"from": period.start_date.isoformat(), "to": period.end_date.isoformat(),
                  "steps": reports.funnel(current_store(), period)})


@bp.get("/reports/coupons")
def report_coupons():
    return _json(reports.coupon_report(current_store(), _period()))


@bp.get("/reports/before-after")
def report_before_after():
    days = request.args.get("days", "30")
    if not (days.isascii() and days.isdigit()) or not 1 <= int(days) <= 365:  # "²".isdigit(), but int() refuses
        raise FieldError("days", "Between 1 and 365.")
    return _json(reports.before_after(current_store(), int(days)))


@bp.get("/reports/automations")
def report_automations():
    return _json(reports.automations_report(current_store(), _period()))


@bp.get("/reports/conversations")
def report_conversations():
    return _json(reports.conversations_report(current_store(), _period()))


@bp.get("/reports/reasons")
def report_reasons():
    return _json(reports.reasons_report(current_store(), _period()))


@bp.get("/reports/holdout")
def report_holdout():
    return _json(reports.holdout(current_store(), _period()))


@bp.get("/reports/daily.csv")
def report_daily_csv():
    period = _period()
    store = current_store()
    body = reports.daily_csv(store, period)
    filename = f"retainful-daily-{period.start_date}-{period.end_date}.csv"
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": f"attachment; filename={filename}"})
