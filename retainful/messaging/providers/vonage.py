"""SMS through Vonage's SMS API (``POST https://{rest_host}/sms/json``), with the official ``vonage`` SDK.

Every failure leaves as a :class:`ProviderError`. Transient: HTTP 429 and 5xx, transport failures (refused, TLS,
timeouts) and message status 1 (Throttled). Permanent: every other message status, other 4xx answers, and a
partial failure of a multi-part text (some parts went out, so a retry would send them twice).
"""
from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from vonage import Auth, HttpClientOptions, Vonage
from vonage_http_client import HttpRequestError
from vonage_sms import PartialFailureError, SmsError, SmsMessage

from ..sms_encoding import is_gsm7
from .base import OutgoingSms, ProviderError, SendResult, retry_after_seconds

DEFAULT_REST_HOST = "rest.nexmo.com"

# At DEBUG the SDK logs every request's headers, which hold the previous call's Basic credentials, and the recipient
# and text. Quieted unless configured explicitly; its WARNINGs (error answers, without credentials) still show.
_sdk_log = logging.getLogger("vonage")
if _sdk_log.level == logging.NOTSET:
    _sdk_log.setLevel(logging.INFO)

THROTTLED = 1  # SMS API message status "1": sending faster than the account's limit

_SMS_ERROR = re.compile(r"error code (\d+)(?::\s*(.*))?", re.S)
_TRANSPORT_ERRORS = (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                     requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)


class VonageProvider:
    name = "vonage"

    def __init__(self, api_key: str, api_secret: str, *, rest_host: str = DEFAULT_REST_HOST, timeout: float = 10):
        # Basic auth with key + secret. (An Auth holding a signature_secret would switch sends to signed requests.)
        # The SDK hard-codes https://{rest_host}; it takes whole seconds only, and None would mean no timeout.
        self._auth = Auth(api_key=api_key, api_secret=api_secret)
        self._options = HttpClientOptions(rest_host=rest_host, timeout=max(1, math.ceil(timeout)))
        # The dispatcher sends from many threads, and the SDK's client is not thread-safe (it mutates a shared
        # headers dict on every call, and a requests.Session is not meant to be shared), so each send checks out a
        # client of its own. Idle clients are kept, with their keep-alive connections, for the next sends.
        self._idle: list[Vonage] = [self._new_client()]
        self._idle_lock = threading.Lock()

    def _new_client(self) -> Vonage:
        return Vonage(self._auth, self._options)

    @contextmanager
    def _client(self) -> Iterator[Vonage]:
        with self._idle_lock:
            client = self._idle.pop() if self._idle else None
        client = client or self._new_client()
        try:
            yield client
        finally:
            with self._idle_lock:
                self._idle.append(client)

    def send_sms(self, sms: OutgoingSms) -> SendResult:
        try:
            message = SmsMessage(to=sms.to.strip().lstrip("+"), from_=sms.sender, text=sms.text,
                                 client_ref=str(sms.message_id),
                                 type=None if is_gsm7(sms.text) else "unicode")
        except Exception as exc:  # pydantic validation
            raise ProviderError(f"Vonage message could not be built: {exc}", transient=False) from exc
        try:
            with self._client() as client:
                response = client.sms.send(message)
        except PartialFailureError as exc:  # before SmsError, its base class
            raise ProviderError(f"Vonage partial failure, not retried (parts already sent): "
                                f"{_parts_summary(exc.response)}", transient=False) from exc
        except SmsError as exc:
            raise _sms_error(exc) from exc
        except HttpRequestError as exc:  # RateLimitedError, ServerError, AuthenticationError, ... all subclass it
            raise _http_error(exc) from exc
        except _TRANSPORT_ERRORS as exc:  # SSLError and ConnectTimeout are ConnectionError subclasses
            raise ProviderError(f"Vonage unreachable: {type(exc).__name__}: {exc}", transient=True) from exc
        except Exception as exc:
            # e.g. a 2xx answer that is not the SMS API's JSON (the SDK then fails with TypeError/KeyError). The text
            # may have gone out, so this is permanent rather than a retry that could send it twice.
            raise ProviderError(f"Vonage send failed: {type(exc).__name__}: {exc}", transient=False) from exc
        first = response.messages[0] if response.messages else None
        return SendResult(provider_message_id=first.message_id if first else None)


def _sms_error(exc: SmsError) -> ProviderError:
    """``SmsError`` carries the message status only in its text: "... failed with error code 1: Throttled"."""
    text = str(exc)
    match = _SMS_ERROR.search(text)
    if not match:
        return ProviderError(f"Vonage error: {text}", transient=False)
    code, detail = int(match.group(1)), (match.group(2) or "").strip()
    return ProviderError(f"Vonage status {code}" + (f": {detail}" if detail else ""), transient=code == THROTTLED)


def _http_error(exc: HttpRequestError) -> ProviderError:
    response = exc.response
    status = response.status_code
    body = (response.text or "").strip()[:300]
    reason = f"Vonage HTTP {status}" + (f": {body}" if body else "")
    if status == 429 or status >= 500:
        return ProviderError(reason, transient=True, status=status,
                             retry_after=retry_after_seconds(response.headers.get("Retry-After")))
    return ProviderError(reason, transient=False, status=status)


def _parts_summary(data) -> str:
    try:
        parts = data["messages"]
        sent = sum(1 for p in parts if str(p.get("status")) == "0")
        failed = "; ".join(f"part {i} status {p.get('status')}: {p.get('error-text') or '?'}"
                           for i, p in enumerate(parts, 1) if str(p.get("status")) != "0")
        return f"{sent} of {data.get('message-count', len(parts))} parts sent; {failed}"
    except (TypeError, KeyError, AttributeError):
        return repr(data)[:300]
