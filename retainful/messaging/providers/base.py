"""The one small interface every provider sits behind, and the errors the dispatcher understands."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class OutgoingEmail:
    message_id: int  # our outbox id; travels in custom_args so provider events can be matched later
    to_email: str
    to_name: str | None
    from_email: str
    from_name: str
    subject: str
    html: str
    text: str
    unsubscribe_url: str | None  # https link for List-Unsubscribe (RFC 8058 one-click); None for account mail
    unsubscribe_mailto: str | None = None
    categories: tuple[str, ...] = field(default_factory=tuple)
    reply_to: str | None = None  # the customer's reply address (retainful.conversations.inbound_email)


@dataclass(frozen=True)
class OutgoingSms:
    message_id: int  # our outbox id; sent as client-ref
    to: str  # E.164
    sender: str
    text: str


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str | None


class ProviderError(Exception):
    """A send that did not go through. ``transient`` errors are retried with backoff; the others fail at once."""

    def __init__(self, reason: str, *, transient: bool, retry_after: float | None = None,
                 status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.retry_after = retry_after
        self.status = status


def retry_after_seconds(value: str | None) -> float | None:
    """A provider's ``Retry-After`` in seconds; the HTTP-date form and junk are ignored (the dispatcher's backoff
    applies)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


class ProviderConfigError(RuntimeError):
    """A provider is selected but its credentials are missing: refuse to start instead of failing every send."""


class EmailProvider(Protocol):
    name: str

    def send_email(self, email: OutgoingEmail) -> SendResult: ...


class SmsProvider(Protocol):
    name: str

    def send_sms(self, sms: OutgoingSms) -> SendResult: ...
