"""GSM 03.38 (3GPP TS 23.038 §6.2.1): which texts can go out as plain GSM-7 SMS.

One character outside the basic set and its extension table switches the whole message to UCS-2 (``type=unicode``
at Vonage), which shrinks a segment from 160 to 70 characters.
"""
from __future__ import annotations

# The 128-entry default alphabet in code order, without ESC (0x1B). 0x0A is LF and 0x0D is CR.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Reached with ESC; each costs two septets. \f is the form feed (ESC 0x0A).
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM-7 basic set or its extension table (so no UCS-2 is needed).

    The backtick, curly quotes, dashes, the ellipsis character, non-breaking spaces and emoji are not GSM-7.
    """
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


GSM7_SINGLE, GSM7_PART = 160, 153  # septets in one SMS / in each part of a concatenated SMS
UCS2_SINGLE, UCS2_PART = 70, 67  # UTF-16 code units


def segment_count(text: str) -> tuple[str, int, int]:
    """(encoding, segments, characters) as the carrier counts them.

    GSM-7 extension characters (€, [, ...) take two septets; in UCS-2 an emoji takes two UTF-16 units.
    """
    if is_gsm7(text):
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        single, part, encoding = GSM7_SINGLE, GSM7_PART, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = UCS2_SINGLE, UCS2_PART, "UCS-2"
    segments = 1 if units <= single else -(-units // part)
    return encoding, segments, units
