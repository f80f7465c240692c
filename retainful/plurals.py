"""Counts in words: "1 day", "2 days". One helper for the service's and the admin's English, so a translation
(ngettext) can take its place in one spot."""
from __future__ import annotations


def counted(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else plural or singular + 's'}"
