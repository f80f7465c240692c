"""Report pages: summary, per-step funnel, coupons, holdout lift, before/after, daily series and revenue by
automation as charts, the daily CSV, and the conversations page (answered, first response, converted; carts by
abandonment reason as a chart). Every figure comes from ``retainful.reports``; this module only picks the period and
lays it out."""
from __future__ import annotations

from flask import Response, request
from flask_admin import BaseView, expose
from flask_babel import gettext as _

from retainful_admin import charts
from retainful_admin.security import SecuredMixin, current_store
from retainful import reports, users
from retainful.errors import FieldError

PERIOD_CHOICES = (7, 30, 90, 365)


def _period(store):
    """The period asked for in the query string, or the last 30 days with the reason the request was refused."""
    args = request.args
    try:
        return reports.resolve_period(store, args.get("from"), args.get("to"), args.get("days")), None
    except FieldError as error:
        return reports.resolve_period(store), error


class ReportsView(SecuredMixin, BaseView):
    capability = users.REPORTS

    @expose("/")
    def index(self):
        store = current_store()
        period, error = _period(store)
        daily = reports.daily(store, period)
        funnel = reports.funnel(store, period)
        span = {"start": period.start_date, "end": period.end_date}
        before_after = reports.before_after(store, days=30)
        return self.render(
            "retainful_admin/reports.html", store=store, period=period, error=error, choices=PERIOD_CHOICES,
            summary=reports.summary(store, period), funnel=funnel, coupons=reports.coupon_report(store, period),
            holdout=reports.holdout(store, period), before_after=before_after,
            before_after_chart=charts.before_after_chart(before_after, store),
            active_days=[row for row in daily if any(value for key, value in row.items() if key != "date")],
            chart=charts.chart("daily-chart", _("Abandoned vs recovered carts per day, %(start)s to %(end)s", **span),
                               daily, charts.ABANDONED_VS_RECOVERED, store, table_id="daily-table"),
            revenue_chart=charts.chart("revenue-chart", _("Revenue and recovered revenue per day, %(start)s to %(end)s",
                                                          **span), daily, charts.REVENUE, store, table_id="daily-table"),
            funnel_chart=charts.chart("funnel-chart", _("Abandoned-cart messages per step and channel, %(start)s to "
                                                        "%(end)s", **span), funnel, charts.FUNNEL, store,
                                      x_title=_("Step and channel"), table_id="funnel-table",
                                      label=lambda row: _("Step %(n)s %(channel)s", n=row["step"],
                                                          channel=row["channel"])),
            automations_chart=charts.automations_chart(reports.automations_report(store, period), store),
        ), 400 if error else 200

    @expose("/conversations")
    def conversations(self):
        store = current_store()
        period, error = _period(store)
        reasons = reports.reasons_report(store, period)
        return self.render(
            "retainful_admin/conversations_report.html", store=store, period=period, error=error,
            choices=PERIOD_CHOICES, conversations=reports.conversations_report(store, period), reasons=reasons,
            chart=charts.chart("reasons-chart", _("Carts by reason and recovered, %(start)s to %(end)s",
                                                  start=period.start_date, end=period.end_date),
                               reasons["reasons"], charts.REASONS, store,
                               x_title=_("Abandonment reason"), table_id="reasons-table",
                               label=lambda row: row["reason"].replace("_", " ")),
        ), 400 if error else 200

    @expose("/daily.csv")
    def daily_csv(self):
        store = current_store()
        period, error = _period(store)
        if error is not None:
            return Response(f"{error.field}: {error.message}\n", status=400, mimetype="text/plain")
        filename = f"retainful-store{store.id}-daily-{period.start_date}-{period.end_date}.csv"
        return Response(reports.daily_csv(store, period), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})
