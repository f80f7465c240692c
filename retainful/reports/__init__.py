"""Report queries returning plain data: what recovery earned, per store."""
from retainful.reports.revenue import recovered_revenue

__all__ = ["recovered_revenue"]
