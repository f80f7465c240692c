"""Vonage SMS API inbound messages: the shopper's reply, handed to the conversations (keywords first: a STOP opts
them out and cancels what is pending).

Vonage sends inbound SMS as query parameters (GET), a form or JSON (POST), with ``msisdn`` (the shopper), ``to`` (our
number), ``text``, ``keyword``, ``messageId`` and, for each part of a long text, ``concat-ref``, ``concat-part`` and
``concat-total`` (:mod:`retainful.conversations.inbound_sms` joins them). A STOP is a consent change recorded as the
shopper's own, so nothing unauthenticated
is believed: each request must carry a valid ``sig`` with a fresh ``timestamp`` (``VONAGE_SIGNATURE_SECRET``), or
arrive on the secret path ``/webhooks/vonage/inbound/<VONAGE_INBOUND_TOKEN>`` for accounts without signed webhooks
(both when both are set). With neither configured every request is refused, like the SendGrid endpoint.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from typing import Mapping

import phonenumbers
import sqlalchemy as sa

from retainful import clock
from retainful.conversations import inbound_sms
from retainful.extensions import db
from retainful.models import Store

log = logging.getLogger(__name__)

MAX_SIGNATURE_AGE = 300  # seconds
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


@dataclass(frozen=True)
class Inbound:
    sender: str  # E.164
    to: str  # E.164, or "" when Vonage's "to" is not a phone number
    text: str
    message_id: str | None = None  # Vonage's messageId: a retry carries the same
    part: inbound_sms.Part | None = None  # one part of a long text


class InvalidInbound(ValueError):
    """Not a usable inbound message (missing fields)."""


class Unauthenticated(InvalidInbound):
    """Not shown to be Vonage's: unsigned, a bad or stale signature, a wrong path token, or nothing configured."""


def _utf8(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")  # a lone surrogate then simply fails to match


def signature(params: Mapping[str, str], secret: str, method: str) -> str:
    """Vonage's signature of ``params`` (lower-case hex; the SDK signs only the HMACs): every parameter but ``sig``,
    sorted by name, as ``&name=value`` with ``&`` and ``=`` in values replaced by ``_``."""
    signed = "".join(f"&{key}={str(value).replace('&', '_').replace('=', '_')}"
                     for key, value in sorted(params.items()) if key != "sig")
    if method == "md5hash":
        return hashlib.md5(_utf8(signed + secret)).hexdigest()
    return hmac.new(_utf8(secret), _utf8(signed), method).hexdigest()


def authenticate(params: Mapping[str, str], path_token: str | None, *, secret: str, method: str = "sha256",
                 token: str = "") -> None:
    """Raise Unauthenticated unless every configured check holds (the path token, the signature)."""
    if not secret and not token:
        raise Unauthenticated("inbound SMS is not configured (VONAGE_SIGNATURE_SECRET or VONAGE_INBOUND_TOKEN)")
    if token and not hmac.compare_digest(_utf8(token), _utf8(path_token or "")):
        raise Unauthenticated("wrong or missing path token")
    if not token and path_token is not None:
        raise Unauthenticated("no path token is configured (VONAGE_INBOUND_TOKEN)")
    if secret:
        _check_signature(params, secret, method)


def _check_signature(params: Mapping[str, str], secret: str, method: str) -> None:
    given = params.get("sig")
    if not given:
        raise Unauthenticated("unsigned")
    if not hmac.compare_digest(_utf8(signature(params, secret, method)), _utf8(given.lower())):
        raise Unauthenticated("bad signature")
    timestamp = params.get("timestamp", "")
    if not _TIMESTAMP.match(timestamp):
        raise Unauthenticated("bad timestamp")
    if abs(clock.now().timestamp() - int(timestamp)) > MAX_SIGNATURE_AGE:
        raise Unauthenticated("stale signature")


def _e164(digits: str) -> str | None:
    try:
        number = phonenumbers.parse("+" + digits.strip().lstrip("+"))
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _part(params: Mapping[str, str]) -> inbound_sms.Part | None:
    """The concat fields of one part of a long text (None: a whole text); raises InvalidInbound naming them."""
    fields = ("concat-ref", "concat-part", "concat-total")
    if not any(params.get(name) for name in fields):
        return None
    ref, number, total = (str(params.get(name) or "") for name in fields)
    if not ref or len(ref) > 64 or not (number.isascii() and number.isdigit() and total.isascii() and total.isdigit()) \
            or not 1 <= int(number) <= int(total) <= inbound_sms.MAX_PARTS:
        raise InvalidInbound(f"concat-ref, concat-part and concat-total must name part 1 to "
                             f"{inbound_sms.MAX_PARTS} of a set")
    return inbound_sms.Part(ref, int(number), int(total))


def parse(params: Mapping[str, str]) -> Inbound:
    msisdn, text = params.get("msisdn"), params.get("text")
    if not msisdn or text is None:
        raise InvalidInbound("msisdn and text are required")
    sender = _e164(msisdn)
    if sender is None:
        raise InvalidInbound("msisdn is not a phone number")
    message_id = (params.get("messageId") or params.get("message-id") or "")[:128] or None
    return Inbound(sender=sender, to=_e164(params.get("to") or "") or "", text=text, message_id=message_id,
                   part=_part(params))


def _store_number(store: Store) -> str | None:
    """The store's SMS sender as E.164 (a national number read in the store's country); None for a name."""
    sender = (store.sms_sender or "").strip()
    if not sender.lstrip("+").isdigit():
        return None
    try:
        number = phonenumbers.parse(sender, None if sender.startswith("+") else store.country)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def stores_texting_from(to: str) -> list[int]:
    """The stores whose SMS sender is the number ``to`` (E.164); a text to any other number concerns no store."""
    if not to:
        return []
    candidates = db.session.scalars(sa.select(Store).where(Store.sms_sender.like(f"%{to[-6:]}")))  # digits only
    return [store.id for store in candidates if _store_number(store) == to]


def _record(texts: list[inbound_sms.Text]) -> dict[str, int]:
    counts = {"opted_out": 0, "recorded": 0}
    for text in texts:
        for name, value in inbound_sms.handle(text, stores_texting_from(text.to)).items():
            counts[name] += value
    return counts


def handle(inbound: Inbound) -> dict[str, int]:
    """Hand the text (once whole) to the conversations of the stores texting from the number it was sent to.
    Returns ``opted_out`` (customer records opted out) and ``recorded`` (messages recorded in conversations)."""
    return _record(inbound_sms.assemble(inbound.sender, inbound.to, inbound.text, inbound.message_id, inbound.part))


def record_expired_parts() -> dict[str, int]:
    """The ``inbound_sms_parts`` job: long texts whose missing parts never came are recorded with what came."""
    return _record(inbound_sms.expired())
