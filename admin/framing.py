"""Email HTML shown inside the admin: in a sandboxed <iframe srcdoc>, and inert.

Looking at a message must not count as the shopper opening or clicking it: the open pixel is swapped for a blank
image, and every link targets a new window, which the iframe's sandbox (no allow-popups) refuses to open.
"""
from __future__ import annotations

import re

BLANK_GIF = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
_PIXEL = re.compile(r"""(["'])[^"'<>]*/o/[A-Za-z0-9_-]{8,24}\.gif\1""")
_HEAD = re.compile(r"<head\b[^>]*>", re.IGNORECASE)
BASE = '<base target="_blank">'


def inert_email_html(html: str | None) -> str:
    if not html:
        return ""
    html = _PIXEL.sub(lambda m: f"{m.group(1)}{BLANK_GIF}{m.group(1)}", html)
    head = _HEAD.search(html)
    if head:
        return html[:head.end()] + BASE + html[head.end():]
    return BASE + html
