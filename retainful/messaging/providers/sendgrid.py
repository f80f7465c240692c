"""Email through SendGrid's v3 Mail Send API, with the official ``sendgrid`` SDK.

Every failure leaves as a :class:`ProviderError`: 429 and 5xx answers and network failures are transient, other
answers are permanent. The SDK wraps only HTTP error statuses; network failures come out of urllib unwrapped.
"""
from __future__ import annotations

import http.client
import json
import logging
import urllib.error

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Category, CustomArg, From, Header, Mail, ReplyTo, To

from .base import OutgoingEmail, ProviderError, SendResult, retry_after_seconds

DEFAULT_HOST = "https://api.sendgrid.com"

# At DEBUG the SDK's HTTP client logs every request's headers, API key included. Quieted unless configured explicitly.
_sdk_log = logging.getLogger("python_http_client")
if _sdk_log.level == logging.NOTSET:
    _sdk_log.setLevel(logging.INFO)


class SendGridProvider:
    name = "sendgrid"

    def __init__(self, api_key: str, *, host: str = DEFAULT_HOST, timeout: float = 10):
        self._client = SendGridAPIClient(api_key=api_key, host=host.rstrip("/"))
        # The SDK's default is no timeout at all; sub-clients built per call inherit this attribute.
        self._client.client.timeout = timeout
        # Every call shares this headers dict, and the first POST would insert Content-Type into it while other
        # threads' requests iterate it ("dictionary changed size"). Set up front, it is never mutated again.
        self._client.client.request_headers["Content-Type"] = "application/json"

    def send_email(self, email: OutgoingEmail) -> SendResult:
        try:
            message = build_mail(email)
        except Exception as exc:  # the helpers validate (e.g. refuse content that looks like an API key)
            raise ProviderError(f"SendGrid message could not be built: {type(exc).__name__}: {exc}",
                                transient=False) from exc
        try:
            response = self._client.send(message)
        except HTTPError as exc:
            raise _http_error(exc) from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError, http.client.HTTPException) as exc:
            # URLError wraps refused connections, DNS and TLS failures; HTTPException covers a dropped response.
            reason = getattr(exc, "reason", None) or exc
            raise ProviderError(f"SendGrid unreachable: {type(exc).__name__}: {reason}", transient=True) from exc
        except Exception as exc:
            raise ProviderError(f"SendGrid send failed: {type(exc).__name__}: {exc}", transient=False) from exc
        return SendResult(provider_message_id=response.headers.get("X-Message-Id") or None)


def build_mail(email: OutgoingEmail) -> Mail:
    """The Mail Send body: text/plain then text/html, RFC 8058 one-click unsubscribe headers, our id in custom_args."""
    message = Mail(
        from_email=From(email.from_email, email.from_name),
        to_emails=To(email.to_email, email.to_name),
        subject=email.subject,
        plain_text_content=email.text,
        html_content=email.html,
    )
    if email.reply_to:  # the sender stays the store's; replies reach the conversation
        message.reply_to = ReplyTo(email.reply_to)
    if email.unsubscribe_url is not None:  # account mail (an invitation, a password reset) is no list mail
        unsubscribe = f"<{email.unsubscribe_url}>"
        if email.unsubscribe_mailto:
            mailto = email.unsubscribe_mailto
            unsubscribe += f", <{mailto if mailto.startswith('mailto:') else f'mailto:{mailto}'}>"
        message.header = [Header("List-Unsubscribe", unsubscribe),
                          Header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]
    # A list: assigning a dict keeps only its first key, silently. Values must be strings.
    message.custom_arg = [CustomArg("message_id", str(email.message_id))]
    if email.categories:
        # add_category inserts at index 0, so feed them reversed to keep the caller's order.
        message.category = [Category(c) for c in reversed(email.categories)]
    return message


def _http_error(exc: HTTPError) -> ProviderError:
    status = exc.status_code
    detail = _error_detail(exc.body)
    reason = f"SendGrid HTTP {status}" + (f": {detail}" if detail else "")
    if status == 429 or status >= 500:
        return ProviderError(reason, transient=True, status=status,
                             retry_after=retry_after_seconds(exc.headers.get("Retry-After") if exc.headers else None))
    return ProviderError(reason, transient=False, status=status)


def _error_detail(body: bytes | None) -> str:
    """``errors[0].message`` (with its field) from a SendGrid error body, else the start of the raw body."""
    if not body:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    try:
        errors = json.loads(text).get("errors")
        first = errors[0]
        message = first["message"]
    except (ValueError, AttributeError, LookupError, TypeError):
        return text.strip()[:300]
    field = first.get("field")
    return f"{message} (field: {field})" if field else str(message)
