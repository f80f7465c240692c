"""SendGrid Inbound Parse: replies to our emails, posted as multipart/form-data to
``/webhooks/sendgrid/inbound/<SENDGRID_INBOUND_TOKEN>``.

Inbound Parse signs nothing, so the secret path is the authentication: without SENDGRID_INBOUND_TOKEN every post is
refused, and a wrong token is refused in constant time. The reply is then filed by its address
(:mod:`retainful.conversations.inbound_email`), which is itself unforgeable. SendGrid retries a post it got no 2xx for,
so a post we understood but cannot file (an address not ours) is answered 200, and a replay is recorded once.
"""
from __future__ import annotations

import codecs
import hmac
import json
from typing import Mapping
from urllib.parse import parse_qsl

from werkzeug.formparser import FormDataParser, MultiPartParser

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


class _BytesAsLatin1(MultiPartParser):
    def get_part_charset(self, headers) -> str:
        return "iso-8859-1"  # every byte kept as one character: decoded by the post's own ``charsets`` afterwards


class RawFieldsParser(FormDataParser):
    """Inbound Parse sends each field in the charset of the email (an Outlook reply in windows-1252), named in the
    ``charsets`` field, not in the part's headers; Werkzeug would read them as UTF-8 and lose the accents. This
    parser keeps the bytes (as Latin-1 text) so :func:`decoded` can read each field in its own charset."""

    def _parse_multipart(self, stream, mimetype, content_length, options):
        parser = _BytesAsLatin1(stream_factory=self.stream_factory, max_form_memory_size=self.max_form_memory_size,
                                max_form_parts=self.max_form_parts, cls=self.cls)
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            raise ValueError("Missing boundary")
        form, files = parser.parse(stream, boundary, content_length)
        return stream, form, files

    def _parse_urlencoded(self, stream, mimetype, content_length, options):
        items = parse_qsl(stream.read().decode("iso-8859-1"), keep_blank_values=True, encoding="iso-8859-1")
        return stream, self.cls(items), self.cls()


def _codec(name: object) -> str:
    try:
        return codecs.lookup(str(name)).name
    except (LookupError, ValueError):
        return "utf-8"


def decoded(form: Mapping[str, str]) -> dict[str, str]:
    """The fields read by :class:`RawFieldsParser`, each decoded in the charset ``charsets`` names (else UTF-8);
    undecodable bytes become U+FFFD."""
    raw = {name: form.get(name) or "" for name in form}
    try:
        charsets = json.loads(raw.get("charsets") or "{}")
    except ValueError:
        charsets = {}
    charsets = charsets if isinstance(charsets, dict) else {}
    return {name: value.encode("iso-8859-1").decode(_codec(charsets.get(name, "utf-8")), "replace")
            for name, value in raw.items()}


def handle(form: Mapping[str, str], *, secret: str, domain: str) -> dict[str, int]:
    """Parse and file one post (its fields as :class:`RawFieldsParser` read them); raises InvalidInboundEmail for a
    post that is not Inbound Parse's."""
    return inbound_email.handle(inbound_email.parse(decoded(form)), secret, domain)


InvalidInboundEmail = inbound_email.InvalidInboundEmail
