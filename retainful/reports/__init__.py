"""Report queries returning plain data (Decimals for money): what recovery earned, per store, in store-local days."""
from retainful.reports.automations import automations_report
from retainful.reports.conversations import conversations_report, reasons_report
from retainful.reports.outcomes import before_after, coupon_report, daily, daily_csv, holdout
from retainful.reports.period import Period, resolve_period
from retainful.reports.recovery import funnel, summary
from retainful.reports.revenue import recovered_revenue

__all__ = ["Period", "automations_report", "before_after", "conversations_report", "coupon_report", "daily",
           "daily_csv", "funnel", "holdout", "reasons_report", "recovered_revenue", "resolve_period", "summary"]
