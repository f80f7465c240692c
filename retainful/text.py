"""Strings that no database can store: NUL characters and unpaired UTF-16 surrogates.

PostgreSQL refuses both in text (and in JSON), and a surrogate cannot be encoded as UTF-8, so an email or SMS that
quotes one fails at send time. SQLite stores them silently. Every adapter refuses them at the edge with this one check,
so both databases answer the same 400 naming the field.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

from retainful.errors import FieldError

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MESSAGE = "Must not contain NUL characters or unpaired surrogates."


def _label(key: Any) -> str:
    """A key as it can be named in an error: a bad key is shown escaped, never echoed raw."""
    key = str(key)
    return key.encode("unicode_escape").decode("ascii") if _UNSTORABLE.search(key) else key


def unstorable_path(value: Any, path: str = "") -> str | None:
    """The dotted path of the first unstorable string in a decoded JSON value (keys included), or None.

    Iterative, so a body nested as deep as the JSON parser allows cannot exhaust the stack here.
    """
    pending: list[tuple[str, Any]] = [(path, value)]
    while pending:
        where, item = pending.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                return where or "_schema"
            continue
        if isinstance(item, dict):
            children: Iterable[tuple[Any, Any]] = item.items()
        elif isinstance(item, list):
            children = enumerate(item)
        else:
            continue
        named = [(f"{where}.{_label(key)}" if where else _label(key), key, child) for key, child in children]
        for name, key, _ in named:
            if isinstance(key, str) and _UNSTORABLE.search(key):
                return name
        pending.extend((name, child) for name, _, child in reversed(named))
    return None


def refuse_unstorable(value: Any, path: str = "") -> None:
    """Raise :class:`FieldError` naming the first unstorable string in ``value``."""
    found = unstorable_path(value, path)
    if found is not None:
        raise FieldError(found, MESSAGE)


def refuse_unstorable_fields(values) -> None:
    """The same check over a form, a query string or URL values (names that may repeat, each value a string)."""
    pairs = values.items(multi=True) if hasattr(values, "getlist") else values.items()
    for name, value in pairs:
        refuse_unstorable(name, _label(name))
        refuse_unstorable(value, _label(name))


def scrubbed(text: str) -> str:
    """``text`` with every unstorable character replaced by U+FFFD: for what a provider sends us (an inbound SMS or
    email), which is kept rather than refused, since a refusal is only retried."""
    return _UNSTORABLE.sub("\ufffd", text)
