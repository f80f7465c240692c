"""Counts in words: "1 day", "2 days". One helper for the service's and the admin's words (marked, so the admin
shows them in the reader's language and plural rule)."""
from __future__ import annotations

from retainful.words import Nn_, Said


def counted(count: int, unit: str) -> Said:
    """``count`` of ``unit`` (days, hours or minutes) in words."""
    if unit == "days":
        return Nn_("%(num)d day", "%(num)d days", count)
    if unit == "hours":
        return Nn_("%(num)d hour", "%(num)d hours", count)
    return Nn_("%(num)d minute", "%(num)d minutes", count)
