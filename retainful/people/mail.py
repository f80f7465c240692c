"""Account mail (invitations, password resets): straight through the configured email provider, not the outbox
(resets from a background thread, :func:`send_soon`).

It answers a person's own action on their account, so none of the shopper rules apply (consent, caps, quiet hours,
unsubscribe links); a failure is logged without the address and the caller's answer does not change, since it must
not reveal whether an account exists.
"""
from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor, wait
from urllib.parse import urlsplit

from flask import current_app
from markupsafe import escape

from retainful.messaging.dispatch import providers_for
from retainful.messaging.providers.base import OutgoingEmail, ProviderError

log = logging.getLogger(__name__)
ACCOUNT_CATEGORY = "account"
_background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="account-mail")  # joined at exit: none is lost
_pending: set[Future] = set()


def default_sender() -> str:
    """``no-reply@<the host of PUBLIC_BASE_URL>``."""
    return f"no-reply@{urlsplit(current_app.config['PUBLIC_BASE_URL']).hostname or 'localhost'}"


def send(to: str, subject: str, text: str, *, from_name: str = "Retainful", from_email: str | None = None) -> bool:
    """Send a plain account email (its HTML is the text, escaped, links kept); whether the provider took it."""
    html = "".join(f"<p>{escape(paragraph)}</p>".replace("\n", "<br>") for paragraph in text.split("\n\n"))
    email = OutgoingEmail(message_id=0, to_email=to, to_name=None, from_email=from_email or default_sender(),
                          from_name=from_name, subject=subject, html=html, text=text, unsubscribe_url=None,
                          categories=(ACCOUNT_CATEGORY,))
    try:
        providers_for(current_app._get_current_object()).email.send_email(email)
    except ProviderError as error:
        log.warning("account email %r not sent: %s", subject, type(error).__name__)
        return False
    return True


def send_soon(to: str, subject: str, text: str) -> None:
    """:func:`send` from a background thread, so the caller answers before the provider does: a reset request for a
    known address must take no longer than one for an unknown address (no timing tells which exists)."""
    app = current_app._get_current_object()

    def run() -> None:
        with app.app_context():
            send(to, subject, text)

    future = _background.submit(run)
    _pending.add(future)
    future.add_done_callback(_pending.discard)


def settle(timeout: float = 10.0) -> None:
    """Wait for the background sends under way (tests; a worker's orderly exit joins them anyway)."""
    wait(list(_pending), timeout=timeout)
