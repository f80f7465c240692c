"""Marking the domain's words that people read in the admin (setting labels and help, the reasons a value is
refused, report notes, block labels): they stay English here, and the admin translates them when it shows them
(``i18n.word``). ``N_`` is pybabel's keyword for such marks and ``Nn_`` (``-k Nn_:1,2``) the one for counted words,
so ``make translations`` finds them (babel.cfg lists the modules that use them).

A mark with values is a :class:`Said`: as a str it is the English sentence (the API's JSON, the CLI, logs keep it
stable), and it keeps its pattern and values so the admin can say it in the reader's language."""
from __future__ import annotations

from typing import Any


class Said(str):
    """English words built from a marked pattern; ``pattern``/``plural``/``num``/``values`` let a reader's language
    take its place (a value may be a Said too: "between 1 minute and 3 days")."""

    pattern: str
    plural: str | None
    num: int | None
    values: dict[str, Any]

    def __new__(cls, pattern: str, plural: str | None = None, num: int | None = None, **values: Any) -> "Said":
        if plural is not None:
            values.setdefault("num", num)
        english = plural if plural is not None and num != 1 else pattern
        said = super().__new__(cls, english % values if values else english)
        said.pattern, said.plural, said.num, said.values = pattern, plural, num, values
        return said


def N_(words: str, **values: Any) -> Said:
    """``N_("must be from %(low)s to %(high)s", low=1, high=23)``: the English, translatable where it is shown."""
    return Said(words, **values)


def Nn_(singular: str, plural: str, num: int, **values: Any) -> Said:  # noqa: N802 (gettext's naming)
    """``Nn_("%(num)d day", "%(num)d days", 3)``: a count in words, in the reader's plural rule where it is shown."""
    return Said(singular, plural, num, **values)
