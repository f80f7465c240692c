"""The automation registry: kind -> the one :class:`~retainful.automations.base.Automation` of that kind."""
from __future__ import annotations

from retainful.automations.base import Automation

_REGISTRY: dict[str, Automation] = {}
_UNLISTED: set[str] = set()


def register(automation: Automation, *, listed: bool = True) -> Automation:
    """Add an automation (at import of its module); a kind is registered once. An unlisted kind (a conversation's
    replies) is known to the policy and the dispatcher but is no automation a store switches or reports on."""
    if not automation.kind or automation.kind in _REGISTRY:
        raise ValueError(f"automation kind {automation.kind!r} is empty or registered twice")
    _REGISTRY[automation.kind] = automation
    if not listed:
        _UNLISTED.add(automation.kind)
    return automation


def get(kind: str) -> Automation | None:
    """The automation of a message kind, or None (a test-send's kind ``test`` is none)."""
    return _REGISTRY.get(kind)


def all_automations() -> list[Automation]:
    """Every registered automation, in registration order."""
    return [automation for kind, automation in _REGISTRY.items() if kind not in _UNLISTED]


def all_kinds() -> tuple[str, ...]:
    """Every registered kind, the unlisted ones too (what the send policy must know of every message)."""
    return tuple(_REGISTRY)


def kinds() -> tuple[str, ...]:
    return tuple(kind for kind in _REGISTRY if kind not in _UNLISTED)
