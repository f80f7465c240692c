"""Marking the domain's words that people read in the admin (setting labels and help): they stay English here, and
the admin translates them when it shows them (``_(setting.label)``). ``N_`` is pybabel's keyword for such marks, so
``make translations`` finds them (babel.cfg lists the modules that use it)."""


def N_(words: str) -> str:
    return words
