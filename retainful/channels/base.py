"""The interface every channel implements: what dispatch, the policy, rendering, previews, the editor, test-sends and
the API ask of a channel instead of testing its name.

A channel is data plus a few small methods; it holds no state and reads no app config, so a module-level instance
is registered once (``retainful.channels.CHANNELS``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa


class Channel:
    """One way of reaching a shopper. Subclasses set the class attributes and implement the methods below."""

    name: str  # the outbox's ``message.channel``, the Step column, the template channel and the API enum value
    address_field: str  # the Customer column with the address, e.g. email, phone
    provider_setting: str  # the setting that picks its provider, e.g. EMAIL_PROVIDER
    cap_setting: str  # the store setting with its frequency cap in hours, e.g. email_cap_hours
    template_dir: Path  # its file default templates (retainful.defaults.template_folder: installed or in the tree)
    template_extension: str  # ".html", ".txt"
    autoescape: bool  # whether an override's source is HTML-escaped when rendered
    tracks_opens: bool = False  # carries the open pixel; opens on its messages are recorded
    one_text_per_us_cart: bool = False  # US carriers allow one abandoned-cart message per cart within 48 hours
    # Customer columns set when the shopper may no longer get it (refusals); the first is the shopper's own opt-out
    # (an unsubscribe, a STOP), which a campaign's results count.
    opt_out_fields: tuple[str, ...] = ()

    def address(self, customer) -> str | None:
        """Where a message to this customer goes (None: the customer cannot be reached this way)."""
        return getattr(customer, self.address_field)

    def normalise_address(self, text: str, store) -> str:
        """A typed address (a test-send's ``to``) as stored and sent; raises ContactError naming the field."""
        raise NotImplementedError

    def refusals(self, customer) -> tuple[tuple[str, bool], ...]:
        """(skip reason, applies) in the order they are checked: no address, an opt-out, a suppression, no consent."""
        raise NotImplementedError

    def refusal(self, customer) -> str | None:
        """Why this customer must not get a message on this channel (the first reason that applies), or None."""
        return next((reason for reason, applies in self.refusals(customer) if applies), None)

    def marketing_refusal(self, customer) -> str | None:
        """Why a campaign must not reach this customer here: a refusal, or no explicit consent (``<name>_consent``
        true): a campaign is marketing the shopper asked for, on every channel."""
        if (reason := self.refusal(customer)) is not None:
            return reason
        return None if getattr(customer, f"{self.name}_consent") is True else f"no_{self.name}_consent"

    def marketing_condition(self, model) -> sa.ColumnElement[bool]:
        """:meth:`marketing_refusal` is None, as SQL on the Customer ``model`` (a segment's count, its batches)."""
        return sa.and_(getattr(model, self.address_field).is_not(None),
                       getattr(model, f"{self.name}_consent").is_(True),
                       *(getattr(model, field).is_(None) for field in self.opt_out_fields))

    def quiet_zone(self, customer, store) -> ZoneInfo | None:
        """The recipient's zone when the store's quiet hours hold for this channel, else None (no quiet hours)."""
        return None

    def render(self, key: str, context: dict[str, Any], source: str | None = None):
        """The template rendered for this channel (``EmailRendering`` / ``SmsRendering``); raises TemplateError."""
        raise NotImplementedError

    def message_parts(self, rendering, unsubscribe_url: str | None) -> tuple[str | None, str, str | None, str | None]:
        """(subject, text, html, unsubscribe URL) as the outbox records them."""
        raise NotImplementedError

    def preview_json(self, rendering, inert_html) -> dict[str, Any]:
        """The editor's preview of a rendering; ``inert_html`` makes an HTML body safe to frame."""
        raise NotImplementedError

    def envelope(self, *, message_id: int, store, recipient: str, to_name: str | None, rendering,
                 unsubscribe_url: str | None, categories: tuple[str, ...], subject_prefix: str = "",
                 reply_to: str | None = None):
        """What is handed to the provider (``OutgoingEmail`` / ``OutgoingSms``); ``reply_to`` is where a reply goes
        (channels whose replies come back to the sender's address ignore it)."""
        raise NotImplementedError

    def provider(self, providers):
        """This channel's provider among the app's built ones."""
        return getattr(providers, self.name)

    def send(self, provider, outgoing):
        """Hand the envelope to the provider; returns its SendResult or raises ProviderError."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<channel {self.name}>"
