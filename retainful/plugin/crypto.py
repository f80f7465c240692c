"""The Retainful plugin's envelope: AES-256-CBC under the store's secret, with an HMAC-SHA256 over the ciphertext.

Wire form (the plugin's ``RestApi::encryptData``): base64 of ``hex(iv):retainful:hex(hmac):retainful:hex(ct)``. PHP's
``openssl_encrypt`` NUL-pads a short passphrase to the 32 bytes of the AES key and truncates a long one; the HMAC is
keyed with the whole secret. The HMAC is checked, in constant time, before anything is decrypted.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from typing import Any
from urllib.parse import quote

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SEPARATOR = ":retainful:"
MAX_BLOB = 1_000_000  # characters of base64: a cart of 500 lines is well under this


class EnvelopeError(ValueError):
    """The blob is not one this secret sealed: malformed, forged, or for another store."""


def _aes_key(secret: str) -> bytes:
    return secret.encode("utf-8")[:32].ljust(32, b"\0")


def _mac(secret: str, ciphertext: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), ciphertext, hashlib.sha256).digest()


def php_json(value: Any) -> str:
    """``json_encode`` as PHP writes it by default: compact, ``\\/`` for ``/``, non-ASCII as ``\\uXXXX``."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/")


def seal(plaintext: str, secret: str, iv: bytes | None = None) -> str:
    """Encrypt the way the plugin does (for the plugin's own reads, and the tests)."""
    iv = os.urandom(16) if iv is None else iv
    padder = padding.PKCS7(128).padder()
    data = padder.update(plaintext.encode("utf-8")) + padder.finalize()
    encryptor = Cipher(algorithms.AES(_aes_key(secret)), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(data) + encryptor.finalize()
    wire = SEPARATOR.join((iv.hex(), _mac(secret, ciphertext).hex(), ciphertext.hex()))
    return base64.b64encode(wire.encode("ascii")).decode("ascii")


def open_text(blob: Any, secret: str) -> str:
    """The plaintext of a blob this secret sealed, or :class:`EnvelopeError`."""
    if not isinstance(blob, str) or not blob or len(blob) > MAX_BLOB:
        raise EnvelopeError("not an encrypted blob")
    try:
        parts = base64.b64decode(blob, validate=True).decode("ascii").split(SEPARATOR)
        iv, mac, ciphertext = (bytes.fromhex(part) for part in parts)
    except (binascii.Error, UnicodeDecodeError, ValueError):  # three parts of hex, or nothing
        raise EnvelopeError("not an encrypted blob") from None
    if len(iv) != 16 or not ciphertext or len(ciphertext) % 16:
        raise EnvelopeError("not an encrypted blob")
    if not hmac.compare_digest(_mac(secret, ciphertext), mac):
        raise EnvelopeError("the HMAC does not match")
    decryptor = Cipher(algorithms.AES(_aes_key(secret)), modes.CBC(iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        data = unpadder.update(decryptor.update(ciphertext) + decryptor.finalize()) + unpadder.finalize()
        return data.decode("utf-8")
    except (ValueError, UnicodeDecodeError):  # bad padding or not UTF-8: sealed with the right key, still refused
        raise EnvelopeError("the plaintext is not readable") from None


def recovery_link(home_url: str, cart_token: str, secret: str) -> str:
    """The plugin's signed cart-restore link (``RestApi::getRecoveryLink``)."""
    token = base64.b64encode(php_json({"cart_token": cart_token}).encode("utf-8")).decode("ascii")
    digest = hmac.new(secret.encode("utf-8"), token.encode("ascii"), hashlib.sha256).hexdigest()
    return f"{home_url.rstrip('/')}/wc-api/retainful?token={quote(token, safe='')}&hash={digest}"
