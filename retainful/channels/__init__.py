"""The channel registry: every way of reaching a shopper (email, SMS; later WhatsApp or push) is one module with a
:class:`~retainful.channels.base.Channel`, registered here. Code that needs to know a channel's rules asks
``channel(name)`` instead of testing ``channel == "email"``; ``names()`` is the list the API, the editor and the
Step model accept. Adding a channel: see docs/DESIGN.md ("How to add a channel")."""
from __future__ import annotations

from retainful.channels.base import Channel
from retainful.channels.email import EMAIL
from retainful.channels.sms import SMS

CHANNELS: dict[str, Channel] = {c.name: c for c in (EMAIL, SMS)}


def channel(name: str) -> Channel:
    """The registered channel called ``name``; KeyError for any other."""
    return CHANNELS[name]


def names() -> tuple[str, ...]:
    """Every channel's name, in registry order (the order of Step.channels and the API enums)."""
    return tuple(CHANNELS)


__all__ = ["CHANNELS", "Channel", "channel", "names"]
