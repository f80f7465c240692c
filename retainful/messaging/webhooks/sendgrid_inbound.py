"""SendGrid Inbound Parse: replies to our emails, posted as multipart/form-data to
``/webhooks/sendgrid/inbound/<SENDGRID_INBOUND_TOKEN>``.

Inbound Parse signs nothing, so the secret path is the authentication: without SENDGRID_INBOUND_TOKEN every post is
refused, and a wrong token is refused in constant time. The reply is then filed by its address
(:mod:`retainful.conversations.inbound_email`), which is itself unforgeable. SendGrid retries a post it got no 2xx for,
so a post we understood but cannot file (an address not ours) is answered 200, and a replay is recorded once.
"""
from __future__ import annotations

import hmac
from typing import Mapping

from retainful.conversations import inbound_email

MAX_BYTES = 20 * 1024 * 1024  # Inbound Parse posts up to 30 MB with attachments; we keep no attachment
MAX_FIELD_BYTES = 4 * 1024 * 1024  # text, html, headers: a long thread quoted in full
MAX_PARTS = 200


class Unauthenticated(ValueError):
    """Not on the configured secret path, or no path is configured."""


def authenticate(path_token: str, token: str) -> None:
    if not token:
        raise Unauthenticated("inbound email is not configured (SENDGRID_INBOUND_TOKEN)")
    if not hmac.compare_digest(token.encode("utf-8", "surrogatepass"), path_token.encode("utf-8", "surrogatepass")):
        raise Unauthenticated("wrong path token")


def handle(form: Mapping[str, str], *, secret: str, domain: str) -> dict[str, int]:
    """Parse and file one post; raises InvalidInboundEmail for a post that is not Inbound Parse's."""
    return inbound_email.handle(inbound_email.parse(form), secret, domain)


InvalidInboundEmail = inbound_email.InvalidInboundEmail
