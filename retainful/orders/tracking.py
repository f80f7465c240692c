"""Shipment tracking on an order: ``[{"carrier", "number", "url", "shipped_on"}]``, read from the API's ``tracking``
or from WooCommerce Shipment Tracking's ``_wc_shipment_tracking_items`` order meta.

The plugin stores a provider it knows as a slug (``tracking_provider``: "usps", "royal-mail") and builds the link
from its own table; a provider the merchant typed in comes as ``custom_tracking_provider`` with
``custom_tracking_link``. ``date_shipped`` is a Unix time (the plugin's own REST API shows it as ``YYYY-MM-DD``).
"""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import quote, urlsplit

from retainful import clock

WOO_META_KEY = "_wc_shipment_tracking_items"
MAX_ITEMS = 20
MAX_TEXT = 100
MAX_URL = 2048
# The plugin's providers by slug (sanitize_title of its name) whose link needs only the tracking number.
PROVIDERS = {
    "usps": ("USPS", "https://tools.usps.com/go/TrackConfirmAction_input?qtc_tLabels1={}"),
    "ups": ("UPS", "https://www.ups.com/track?loc=en_US&tracknum={}"),
    "fedex": ("FedEx", "https://www.fedex.com/apps/fedextrack/?action=track&tracknumbers={}"),
    "dhl-us": ("DHL US", "https://www.logistics.dhl/us-en/home/tracking/tracking-ecommerce.html?tracking-id={}"),
    "australia-post": ("Australia Post", "https://auspost.com.au/mypost/track/#/details/{}"),
    "royal-mail": ("Royal Mail", "https://www.royalmail.com/track-your-item#/tracking-results/{}"),
    "canada-post": ("Canada Post", "https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor={}"),
}
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def stored(items: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Items as the order keeps them (JSON: the date as ``YYYY-MM-DD``); None stays None ("not told")."""
    if items is None:
        return None
    return [{"carrier": i.get("carrier"), "number": i["number"], "url": i.get("url"),
             "shipped_on": i["shipped_on"].isoformat() if i.get("shipped_on") else None} for i in items]


def _text(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or _UNSTORABLE.search(value):
        return None
    return value.strip()[:MAX_TEXT]


def _link(value: Any) -> str | None:
    """A merchant's custom link, only if it is a plain http(s) URL (it goes into shoppers' messages)."""
    if not isinstance(value, str) or len(value) > MAX_URL or _UNSTORABLE.search(value) or any(
            ch.isspace() for ch in value.strip()):
        return None
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    return value.strip() if parts.scheme in ("http", "https") and parts.hostname else None


def _shipped_on(value: Any) -> date | None:
    """A Unix time (the meta) or an ISO date (the plugin's REST API); anything else is not known."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            shipped = datetime.fromtimestamp(value, timezone.utc).date()
        elif isinstance(value, str):
            shipped = date.fromisoformat(value.strip()[:10])
        else:
            return None
    except (ValueError, OverflowError, OSError):
        return None
    return shipped if clock.EARLIEST_DATE <= shipped <= clock.LATEST_DATE else None


def from_woo_meta(meta: Any) -> list[dict[str, Any]] | None:
    """The order's tracking from ``meta_data``; None when the order has no such meta (what is stored stays).

    Items without a tracking number are skipped; a PHP array with gaps arrives as a JSON object of items."""
    for entry in meta if isinstance(meta, list) else []:
        if isinstance(entry, dict) and entry.get("key") == WOO_META_KEY:
            value = entry.get("value")
            break
    else:
        return None
    raw = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else []
    items = []
    for entry in raw[:MAX_ITEMS]:
        number = _text(entry.get("tracking_number")) if isinstance(entry, dict) else None
        if number is None:
            continue
        slug = (_text(entry.get("tracking_provider")) or "").lower()
        name, template = PROVIDERS.get(slug, (None, None))
        carrier = _text(entry.get("custom_tracking_provider")) or name or (slug or None)
        url = _link(entry.get("custom_tracking_link")) or (
            template.format(quote(number, safe="")) if template else None)
        items.append({"carrier": carrier, "number": number, "url": url,
                      "shipped_on": _shipped_on(entry.get("date_shipped"))})
    return items
