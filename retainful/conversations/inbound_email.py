"""Inbound email: the reply address we set as ``Reply-To`` on every email, and the replies SendGrid Inbound Parse
posts back to us, matched by that address and stripped of their quoted history.

The address is ``r-<customer id in hex>-<mac>@REPLY_DOMAIN``: the MAC (HMAC-SHA256 with SECRET_KEY, 130 bits, base32
so that a mail system that lower-cases addresses keeps it valid) makes it unforgeable, so a reply can only be filed
where one of our emails went. (A new SECRET_KEY retires the addresses of emails sent before.)
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass
from email.utils import getaddresses, parseaddr
from typing import Mapping

from retainful.conversations.service import receive
from retainful.extensions import db
from retainful.models import Customer
from retainful.text import scrubbed

log = logging.getLogger(__name__)

EMAIL = "email"
_LOCAL = re.compile(r"^r-([0-9a-f]{1,12})-([a-z2-7]{26})$")
MAX_RECIPIENTS = 50  # addresses read from To, Cc and the envelope


def _mac(secret: str, customer_id: int) -> str:
    digest = hmac.new(secret.encode(), f"reply-to:{customer_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:26]


def reply_address(secret: str, domain: str, customer_id: int) -> str | None:
    """Where this customer's replies go (None: no REPLY_DOMAIN, no replies by email)."""
    if not domain:
        return None
    return f"r-{customer_id:x}-{_mac(secret, customer_id)}@{domain}"


def customer_for(address: str, secret: str, domain: str) -> Customer | None:
    """The customer a reply address names, if it is one of ours and its MAC holds; else None."""
    local, _, host = address.strip().lower().rpartition("@")
    match = _LOCAL.match(local)
    if not domain or host != domain.lower() or match is None:
        return None
    customer_id = int(match.group(1), 16)
    if not hmac.compare_digest(_mac(secret, customer_id), match.group(2)):
        return None
    return db.session.get(Customer, customer_id)


class InvalidInboundEmail(ValueError):
    """Not a usable Inbound Parse post; the message names the field."""


@dataclass(frozen=True)
class InboundEmail:
    recipients: tuple[str, ...]  # every address it was sent to (envelope, To, Cc)
    sender: str
    subject: str
    text: str  # the reply without its quoted history
    message_id: str  # the Message-ID header, or a digest of the post: a replayed post is recorded once


def _header(headers: str, name: str) -> str:
    match = re.search(rf"^{name}:[ \t]*(.*(?:\r?\n[ \t].*)*)", headers, re.IGNORECASE | re.MULTILINE)
    return " ".join(match.group(1).split()) if match else ""


def parse(form: Mapping[str, str]) -> InboundEmail:
    """The fields of SendGrid's Inbound Parse post (``to``, ``from``, ``subject``, ``text``, ``html``, ``envelope``,
    ``headers``, ...) as one reply. Raises InvalidInboundEmail naming what is missing or malformed."""
    fields = {name: scrubbed(str(form.get(name) or "")) for name in
              ("to", "cc", "from", "subject", "text", "html", "envelope", "headers")}
    envelope: dict = {}
    if fields["envelope"]:
        try:
            envelope = json.loads(fields["envelope"])
        except ValueError:
            raise InvalidInboundEmail("envelope: not JSON") from None
        if not isinstance(envelope, dict):
            raise InvalidInboundEmail("envelope: not a JSON object")
    to = envelope.get("to") if isinstance(envelope.get("to"), list) else []
    recipients = [str(a) for a in to if isinstance(a, str)]
    recipients += [address for _, address in getaddresses([fields["to"], fields["cc"]]) if address]
    sender = parseaddr(fields["from"])[1] or str(envelope.get("from") or "")
    if not recipients:
        raise InvalidInboundEmail("to: required")
    if not sender:
        raise InvalidInboundEmail("from: required")
    body = fields["text"] or (_html_text(fields["html"]) if fields["html"] else "")
    message_id = _header(fields["headers"], "Message-ID")[:128] or "sha256:" + hashlib.sha256(
        "\0".join((sender, fields["subject"], body)).encode("utf-8")).hexdigest()
    return InboundEmail(tuple(dict.fromkeys(a.strip().lower() for a in recipients))[:MAX_RECIPIENTS],
                        sender.strip().lower(), fields["subject"][:300], strip_quoted(body), message_id)


# --- quoted history ------------------------------------------------------------------------------------------
# Where a client starts quoting: the attribution line ("On <date>, <name> wrote:", which Gmail may wrap over two
# lines, and its translations), Outlook's header block or separator, a forwarded-message marker. Everything from the
# first of them on goes, as do ">"-quoted lines and a "-- " signature.
_ATTRIBUTION = re.compile(
    r"^[ \t]*(?:On|Le|Am|El|Il|Op|Em)\b[^\n]{0,300}(?:\n[^\n]{0,300})?"
    r"(?:wrote|a écrit|schrieb|escribió|ha scritto|schreef|escreveu)[^\n]{0,40}:[ \t]*$",
    re.MULTILINE)
_SEPARATORS = re.compile(
    r"^[ \t]*(?:-{2,}[ \t]*(?:Original Message|Ursprüngliche Nachricht|Message d'origine|Forwarded message)[ \t]*-{2,}"
    r"|_{10,}|(?:From|Von|De):[^\n]*\n(?:[^\n]*\n){0,3}?[ \t]*(?:Sent|Gesendet|Envoyé|Date|To):[^\n]*)",
    re.MULTILINE | re.IGNORECASE)
_SIGNATURE = re.compile(r"^-- ?$", re.MULTILINE)


def strip_quoted(text: str) -> str:
    """The new part of a reply: the text before the client's quoted history, without quoted lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    cut = min((m.start() for m in (pattern.search(text) for pattern in (_ATTRIBUTION, _SEPARATORS, _SIGNATURE))
               if m is not None), default=len(text))
    lines = [line.rstrip() for line in text[:cut].split("\n") if not line.lstrip().startswith(">")]
    stripped = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return stripped or text.strip()


_QUOTE_BLOCKS = re.compile(r"<(blockquote)\b.*?</\1\s*>|<div[^<>]*class=\"?[^\"<>]*(?:gmail_quote|"
                           r"OutlookMessageHeader|divRplyFwdMsg)[^<>]*>.*\Z", re.IGNORECASE | re.DOTALL)


def _html_text(html: str) -> str:
    from retainful.rendering.engine import html_to_text

    return html_to_text(_QUOTE_BLOCKS.sub("", html))


def handle(inbound: InboundEmail, secret: str, domain: str) -> dict[str, int]:
    """File the reply in the conversation of each customer one of its addresses names. Returns ``recorded`` (new
    messages) and ``unmatched`` (addresses that were not a valid reply address of ours)."""
    counts = {"recorded": 0, "unmatched": 0}
    for address in inbound.recipients:
        customer = customer_for(address, secret, domain)
        if customer is None:
            counts["unmatched"] += 1
            continue
        if receive(customer, EMAIL, inbound.text, provider_message_id=inbound.message_id) is not None:
            counts["recorded"] += 1
    log.info("inbound email: %s", counts)
    return counts
