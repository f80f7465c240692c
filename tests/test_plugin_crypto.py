"""The plugin's envelope and recovery link, byte for byte against vectors that PHP made the plugin's way."""
import base64
import json
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from retainful.plugin import crypto
from tests.plugin_vectors import CASES, CASES_FILE, SCRIPT, SECRETS, VECTORS, VECTORS_FILE, php, run_php

MU_PLUGIN = Path(__file__).parents[1] / "integrations" / "woocommerce" / "retainful-self-hosted.php"


def test_the_stored_vectors_are_what_php_makes():
    assert run_php(SCRIPT.as_posix(), CASES_FILE.as_posix()) == VECTORS_FILE.read_text()


def test_the_php_shim_and_the_mu_plugin_are_valid_php():
    for path in (SCRIPT, MU_PLUGIN):
        result = subprocess.run([php(), "-l", str(path)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("vector", VECTORS["envelopes"], ids=lambda v: f"{v['payload']}-{v['secret']}-{v['iv'][:4]}")
def test_python_opens_and_seals_what_the_plugin_sends(vector):
    secret = SECRETS[vector["secret"]]
    blob = json.loads(vector["body"])["data"]
    assert crypto.open_text(blob, secret) == vector["plaintext"]
    assert crypto.seal(vector["plaintext"], secret, bytes.fromhex(vector["iv"])) == blob  # the same bytes as PHP


def test_php_json_matches_php_json_encode():
    cart = json.loads(next(v for v in VECTORS["envelopes"] if v["payload"] == "cart")["plaintext"])
    assert crypto.php_json(cart) == next(v for v in VECTORS["envelopes"] if v["payload"] == "cart")["plaintext"]


@pytest.mark.parametrize("link", VECTORS["recovery_links"], ids=lambda v: v["secret"])
def test_recovery_link_matches_the_plugin(link):
    assert crypto.recovery_link(CASES["home_url"], link["cart_token"], SECRETS[link["secret"]]) == link["link"]


def test_the_connect_secret_key_is_the_app_id_sealed():
    assert json.loads(crypto.open_text(VECTORS["connect_secret_key"], SECRETS["store"])) == CASES["app_id"]


def _parts(blob):
    return base64.b64decode(blob).decode().split(crypto.SEPARATOR)


def _join(iv, mac, ct):
    return base64.b64encode(crypto.SEPARATOR.join((iv, mac, ct)).encode()).decode()


CART_BLOB = json.loads(next(v for v in VECTORS["envelopes"] if v["payload"] == "cart")["body"])["data"]


@pytest.mark.parametrize("blob", [
    None, 7, "", "not base64!", base64.b64encode(b"no separators").decode(),
    base64.b64encode(b"zz:retainful:zz:retainful:zz").decode(),
    "A" * (crypto.MAX_BLOB + 4),
    _join(*_parts(CART_BLOB)[:2], _parts(CART_BLOB)[2][:-2] + ("00" if _parts(CART_BLOB)[2][-2:] != "00" else "01")),
    _join(_parts(CART_BLOB)[0], "00" * 32, _parts(CART_BLOB)[2]),  # forged HMAC
    _join(_parts(CART_BLOB)[0][:-2], *_parts(CART_BLOB)[1:]),  # short IV
], ids=["none", "int", "empty", "not-base64", "no-parts", "not-hex", "huge", "flipped-ct", "forged-hmac", "short-iv"])
def test_a_blob_that_is_not_sealed_with_the_secret_is_refused(blob):
    with pytest.raises(crypto.EnvelopeError):
        crypto.open_text(blob, SECRETS["store"])


def test_another_secret_fails_the_hmac_before_any_decryption(monkeypatch):
    def no_decryption(*args, **kwargs):
        raise AssertionError("decrypted before the HMAC was checked")

    monkeypatch.setattr(crypto, "Cipher", no_decryption)
    with pytest.raises(crypto.EnvelopeError, match="HMAC"):
        crypto.open_text(CART_BLOB, SECRETS["short"])


def test_a_sealed_plaintext_with_bad_padding_is_refused():
    secret = SECRETS["store"]
    iv = bytes(16)
    encryptor = Cipher(algorithms.AES(secret.encode()), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(b"x" * 16) + encryptor.finalize()  # no PKCS#7 padding at all
    blob = _join(iv.hex(), crypto._mac(secret, ciphertext).hex(), ciphertext.hex())
    with pytest.raises(crypto.EnvelopeError, match="not readable"):
        crypto.open_text(blob, secret)


@pytest.mark.parametrize("app_id", [None, "acme9app4id2retainful7x1"])
def test_the_mu_plugin_points_the_plugin_here(app_id):
    out = json.loads(run_php(str(Path(SCRIPT).with_name("mu_plugin_filters.php")), str(MU_PLUGIN),
                             "https://recovery.example.com/", *([app_id] if app_id else [])))
    assert out["domain"] == "https://recovery.example.com/retainful/v1/"
    assert out["abandoned_cart"] == ("https://recovery.example.com/retainful/v1/woocommerce/" +
                                     (f"{app_id}/" if app_id else ""))
    assert out["js_engine"] == "https://recovery.example.com/retainful/v1/woocommerce/retainful.js"
    assert out["ours"]["headers"] == {"Content-Type": "application/json", "App-Id": "the-app-id"}
    assert out["elsewhere"]["headers"] == {"app_id": "the-app-id", "Content-Type": "application/json"}
