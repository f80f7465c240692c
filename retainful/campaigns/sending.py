"""Sending a campaign: each recipient's templates (:func:`templates_for`), and the batch expander that writes the
outbox rows of due campaigns a batch at a time."""
from __future__ import annotations

from typing import Any

from retainful.campaigns.automation import DEFAULT_TEMPLATE
from retainful.models import Campaign, Customer


def own_source(channel: str, source: dict[str, Any]) -> str:
    """A campaign's own template as the Jinja source the channel renders: an email's ``subject``, optional
    ``preheader`` and ``html`` inside the store's layout; an SMS's ``text``."""
    if channel != "email":
        return source["text"]
    preheader = f"{{% block preheader %}}{source['preheader']}{{% endblock %}}" if source.get("preheader") else ""
    return (f"{{% extends \"layout.html\" %}}{{% block subject %}}{source['subject']}{{% endblock %}}{preheader}"
            f"{{% block content %}}{source['html']}{{% endblock %}}")


def source_key(campaign: Campaign) -> str:
    """The key a campaign's own source renders under (the dispatcher's render budget is kept per key)."""
    return f"campaign/c{campaign.id}"


def templates_for(campaign: Campaign, customer: Customer | None) -> dict[str, tuple[str, str | None]]:
    """The template of each of the campaign's channels for this recipient: (key, its own source or None for the
    store's template of that key). The one place a recipient's templates are chosen (A/B variants go here)."""
    chosen = {}
    for channel in campaign.channels:
        template = campaign.templates.get(channel) or {"key": DEFAULT_TEMPLATE}
        chosen[channel] = ((source_key(campaign), own_source(channel, template["source"])) if "source" in template
                           else (template["key"], None))
    return chosen
