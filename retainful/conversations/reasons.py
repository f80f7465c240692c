"""Abandonment reasons and the keyword classifier that suggests one from the shopper's words.

The rules are data, one file per language (``reasons/<language>.json``: phrases with weights per reason), so a new
language or a better phrase is a data change. A suggestion is only a hint: the agent confirms or changes it.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Iterable

import sqlalchemy as sa

from retainful.conversations.service import on_inbound
from retainful.extensions import db
from retainful.models import ConversationMessage, Customer
from retainful.models.conversation import REASONS, Direction

DEFAULT_LANGUAGE = "en"
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class _Rule:
    words: tuple[str, ...]  # a word ending in * matches any word it begins
    weight: int


@dataclass(frozen=True)
class _Rules:
    min_score: int
    by_reason: dict[str, tuple[_Rule, ...]]


def words(text: str) -> list[str]:
    """The text's words, case-folded, with apostrophes splitting them (doesn't -> doesn t), as the rules spell them."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


@cache
def _rules(language: str) -> _Rules | None:
    path = resources.files(__package__).joinpath("reasons", f"{language}.json")
    if not re.fullmatch(r"[a-z]{2,3}", language) or not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    unknown = set(data["reasons"]) - set(REASONS)
    if unknown:
        raise ValueError(f"reasons/{language}.json names unknown reasons: {sorted(unknown)}")
    return _Rules(int(data["min_score"]), {
        reason: tuple(_Rule(_stems(phrase), int(weight))
                      for phrase, weight in phrases.items())
        for reason, phrases in data["reasons"].items()})


def _stems(phrase: str) -> tuple[str, ...]:
    """The phrase's words as rules: ``declin*`` keeps its star."""
    return tuple(word + ("*" if star else "") for word, star in re.findall(r"([^\W_]+)(\*?)", phrase.casefold()))


def _word_matches(pattern: str, word: str) -> bool:
    return word.startswith(pattern[:-1]) if pattern.endswith("*") else word == pattern


class _Text:
    """One message's words, with where each word stands, so a rule is tried only where its first word is."""

    def __init__(self, text: str):
        self.words = words(text)
        self.at: dict[str, list[int]] = {}
        for position, word in enumerate(self.words):
            self.at.setdefault(word, []).append(position)

    def has(self, rule: _Rule) -> bool:
        first, rest = rule.words[0], rule.words[1:]
        starts = ([position for word, positions in self.at.items() if _word_matches(first, word)
                   for position in positions] if first.endswith("*") else self.at.get(first, []))
        return any(start + len(rest) < len(self.words)
                   and all(_word_matches(pattern, self.words[start + 1 + i]) for i, pattern in enumerate(rest))
                   for start in starts)


def scores(texts: Iterable[str], language: str = DEFAULT_LANGUAGE) -> dict[str, int]:
    """Each reason's score for the shopper's messages: the weights of its phrases found, each phrase once."""
    rules = _rules(language) or _rules(DEFAULT_LANGUAGE)
    found = [_Text(text) for text in texts if isinstance(text, str)]
    return {reason: sum(rule.weight for rule in reason_rules if any(text.has(rule) for text in found))
            for reason, reason_rules in rules.by_reason.items()}


def suggest(texts: Iterable[str], language: str = DEFAULT_LANGUAGE) -> str | None:
    """The likeliest reason for the shopper's messages, or None when no reason reaches the language's minimum score
    (``other`` is the agent's choice, never suggested). A tie goes to the reason listed first in REASONS."""
    rules = _rules(language) or _rules(DEFAULT_LANGUAGE)
    ranked = scores(texts, language)
    best = max(REASONS[:-1], key=lambda reason: (ranked.get(reason, 0), -REASONS.index(reason)))
    return best if ranked.get(best, 0) >= rules.min_score else None


@on_inbound
def suggest_for(message: ConversationMessage) -> None:
    """A new shopper message: the conversation's ``suggested_reason`` from all the shopper has written in it, in
    their language (the customer's locale) when there are rules for it. The agent's ``reason`` is left alone."""
    conversation = message.conversation
    texts = db.session.scalars(sa.select(ConversationMessage.text).where(
        ConversationMessage.conversation_id == conversation.id, ConversationMessage.direction == Direction.INBOUND,
        ConversationMessage.keyword.is_(None)))
    locale = db.session.scalar(sa.select(Customer.locale).where(Customer.id == conversation.customer_id)) or ""
    conversation.suggested_reason = suggest(list(texts), locale[:2].lower() or DEFAULT_LANGUAGE)
    db.session.commit()
