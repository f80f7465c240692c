"""Coupon codes people can read aloud and type: no look-alike characters, unguessable, unique per store."""
from __future__ import annotations

import secrets

# No 0/O, 1/I/L: a shopper copying a code from a text never has to guess.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
PREFIX = "RT"
GROUPS, GROUP_LENGTH = 2, 4  # RT-7KQ4-M2XD: 31^8 ≈ 8.5e11 codes


def new_code() -> str:
    groups = ("".join(secrets.choice(ALPHABET) for _ in range(GROUP_LENGTH)) for _ in range(GROUPS))
    return "-".join((PREFIX, *groups))


def normalise_code(code: str) -> str:
    """Shoppers type codes in any case, with spaces."""
    return "".join(code.split()).upper()
