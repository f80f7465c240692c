"""Vonage SMS API inbound messages: a shopper's STOP reply opts them out and cancels what is pending.

Vonage posts inbound SMS as query parameters, a form or JSON, with ``msisdn`` (the shopper), ``to`` (our number),
``text`` and ``keyword``. When a signature secret is configured, the request must carry a valid ``sig`` (HMAC over
the sorted parameters, checked with the SDK) and a fresh ``timestamp``; unsigned ones are refused.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Mapping

import phonenumbers
import sqlalchemy as sa
from vonage_http_client import Auth

from retainful.customers import opt_out_sms
from retainful.extensions import db
from retainful.models import Customer, Store

log = logging.getLogger(__name__)

# Exact-word, case-insensitive (CTIA, FCC 24-24: "stop, quit, end, revoke, opt out, cancel or unsubscribe").
OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE",
                              "OPTOUT", "OPT OUT", "OPT-OUT"})
MAX_SIGNATURE_AGE = 300  # seconds


@dataclass(frozen=True)
class Inbound:
    sender: str  # E.164
    to: str
    text: str

    @property
    def opts_out(self) -> bool:
        words = " ".join(re.sub(r"[^\w\s-]", " ", self.text).upper().split())
        return words in OPT_OUT_KEYWORDS


class InvalidInbound(ValueError):
    """Not a usable inbound message (missing fields or a bad signature)."""


def verify(params: Mapping[str, str], signature_secret: str | None, method: str = "sha256") -> None:
    if not signature_secret:
        return
    if "sig" not in params:
        raise InvalidInbound("unsigned")
    # The SDK insists on an api_key beside a signature secret, though checking a signature never uses it.
    checker = Auth(api_key=params.get("api-key") or "inbound", signature_secret=signature_secret,
                   signature_method=method)
    if not checker.check_signature(dict(params)):  # the SDK pops "sig" from what it is given: pass a copy
        raise InvalidInbound("bad signature")
    try:
        age = abs(time.time() - int(params.get("timestamp", "0")))
    except ValueError:
        raise InvalidInbound("bad timestamp") from None
    if age > MAX_SIGNATURE_AGE:
        raise InvalidInbound("stale signature")


def parse(params: Mapping[str, str]) -> Inbound:
    msisdn, text = params.get("msisdn"), params.get("text")
    if not msisdn or text is None:
        raise InvalidInbound("msisdn and text are required")
    try:
        number = phonenumbers.parse("+" + msisdn.lstrip("+"))
    except phonenumbers.NumberParseException:
        raise InvalidInbound("msisdn is not a phone number") from None
    sender = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return Inbound(sender=sender, to=params.get("to", ""), text=text)


def handle(inbound: Inbound) -> int:
    """Opt the sender out (of the stores texting from that number, else of every store). Returns customers affected."""
    if not inbound.opts_out:
        return 0
    stores = list(db.session.scalars(sa.select(Store.id).where(Store.sms_sender == inbound.to))) if inbound.to else []
    query = sa.select(Customer).where(Customer.phone == inbound.sender)
    if stores:
        query = query.where(Customer.store_id.in_(stores))
    customers = list(db.session.scalars(query))
    for customer in customers:
        opt_out_sms(customer, source="sms_stop")
    log.info("inbound STOP from a shopper: %d customer records opted out", len(customers))
    return len(customers)
