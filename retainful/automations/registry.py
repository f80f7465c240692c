"""The automation registry: kind -> the one :class:`~retainful.automations.base.Automation` of that kind."""
from __future__ import annotations

from retainful.automations.base import Automation

_REGISTRY: dict[str, Automation] = {}


def register(automation: Automation) -> Automation:
    """Add an automation (at import of its module); a kind is registered once."""
    if not automation.kind or automation.kind in _REGISTRY:
        raise ValueError(f"automation kind {automation.kind!r} is empty or registered twice")
    _REGISTRY[automation.kind] = automation
    return automation


def get(kind: str) -> Automation | None:
    """The automation of a message kind, or None (a test-send's kind ``test`` is none)."""
    return _REGISTRY.get(kind)


def all_automations() -> list[Automation]:
    """Every registered automation, in registration order."""
    return list(_REGISTRY.values())


def kinds() -> tuple[str, ...]:
    return tuple(_REGISTRY)
