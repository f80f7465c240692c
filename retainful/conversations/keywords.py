"""SMS keywords: one table of keyword -> action, checked before anything else reads an inbound text.

A text that is exactly a keyword (after trimming, case-folding and dropping punctuation) runs its action and is
answered at once. A longer text that uses one of the FCC's revocation words (47 CFR 64.1200(a)(10), 2024: "stop,
quit, end, revoke, opt out, cancel or unsubscribe") is an opt-out too, and its conversation is flagged for the agent.
Adding a keyword is one :func:`register` call with its action; an action that answers something we sent (YES and
REMINDME answer a replenishment reminder) says when it ``applies``, and otherwise the text is an ordinary message.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Callable

from retainful.automations import replenishment
from retainful.customers import opt_out_sms
from retainful.customers.identity import apply_consent
from retainful.extensions import db
from retainful.models import Customer, Store


def _always(customer: Customer) -> bool:
    return True


@dataclass(frozen=True)
class Action:
    """What a keyword does (``run``, given the customer), the text it answers with (``answer``, given the store and
    the customer) and whether it means anything from this customer now (``applies``)."""

    name: str  # recorded on the inbound message: opt_out, opt_in, help, reorder, remind_again
    run: Callable[[Customer], None]
    answer: Callable[[Store, Customer], str]
    applies: Callable[[Customer], bool] = _always


KEYWORDS: dict[str, Action] = {}
# The FCC's revocation words, matched as whole words inside a longer text.
# Korean has no word boundary before its endings ("수신거부합니다"), so 수신거부 counts anywhere in the text.
REVOCATION_WORDS = re.compile(r"\b(stop|quit|end|revoke|opt[\s-]*out|cancel|unsubscribe)\b|수신\s*거부",
                              re.IGNORECASE)


def register(action: Action, *words: str) -> Action:
    for word in words:
        key = normalise(word)
        if not key or key in KEYWORDS:
            raise ValueError(f"keyword {word!r} is empty or registered twice")
        KEYWORDS[key] = action
    return action


def normalise(text: str) -> str:
    """"  Stop! " -> "STOP", "opt-out" -> "OPTOUT": case-folded, punctuation, spaces and accents' marks dropped."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if ch.isalnum()).upper()


def keyword_action(text: str, customer: Customer) -> Action | None:
    """The action of a text that is exactly a keyword and applies to this customer, else None."""
    action = KEYWORDS.get(normalise(text)) if len(text) <= 64 else None
    return action if action is not None and action.applies(customer) else None


def revokes(text: str) -> bool:
    """A longer text using an FCC revocation word ("please stop texting me")."""
    return REVOCATION_WORDS.search(text) is not None


def _contact(store: Store) -> str:
    return store.sender_email or store.domain


def _opt_out(customer: Customer) -> None:
    opt_out_sms(customer, source="sms_stop")


def _opt_in(customer: Customer) -> None:
    customer.sms_opted_out_at = None
    apply_consent(customer, "sms", True, "sms_start")
    db.session.commit()


def _no_change(customer: Customer) -> None:
    """HELP (and YES, which only answers) changes nothing."""


OPT_OUT = register(Action(
    "opt_out", _opt_out,
    lambda store, customer: f"{store.name}: You are unsubscribed (STOP) and will get no more texts from us. "
                  f"Reply START to opt back in."),
    "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT",
    "수신거부", "거부")  # Korean: what the Korean templates' footer and Korean stores' "무료 수신거부" notices invite
OPT_IN = register(Action(
    "opt_in", _opt_in,
    lambda store, customer: f"{store.name}: You are subscribed to texts again. Msg & data rates may apply. "
                  f"Reply HELP for help, STOP to opt out."),
    "START", "UNSTOP")
HELP = register(Action(
    "help", _no_change,
    lambda store, customer: f"{store.name}: help at {_contact(store)}. Msg & data rates may apply. Reply STOP to opt out."),
    "HELP", "INFO")
REORDER = register(Action(
    "reorder", _no_change, replenishment.reorder_answer,
    lambda customer: replenishment.latest_reminder(customer) is not None), "YES")
REMIND_AGAIN = register(Action(
    "remind_again", replenishment.remind_again,
    lambda store, customer: f"{store.name}: OK, we'll remind you again in a week. Reply STOP to opt out.",
    lambda customer: replenishment.latest_reminder(customer) is not None), "REMINDME")

__all__ = ["Action", "HELP", "KEYWORDS", "OPT_IN", "OPT_OUT", "REMIND_AGAIN", "REORDER", "keyword_action",
           "register", "revokes"]
