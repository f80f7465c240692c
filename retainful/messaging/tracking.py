"""Short recovery links and the open pixel: unguessable codes that carry no personal data and log nobody in."""
from __future__ import annotations

import re
import secrets
from datetime import datetime

import sqlalchemy as sa

from retainful import clock, database
from retainful.channels import channel
from retainful.extensions import db
from retainful.automations import registry
from retainful.models import TEST_SEND, Cart, Message, Store
from retainful.rendering.links import recovery_url

CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,24}$")


def new_link_code() -> str:
    """72 random bits in 12 URL-safe characters: short enough for an SMS, far beyond guessing."""
    return secrets.token_urlsafe(9)


def _message(code: str) -> Message | None:
    if not CODE_PATTERN.match(code):
        return None
    return db.session.scalar(sa.select(Message).where(Message.link_code == code))


def _stamp_first(message_id: int, column, at: datetime) -> None:
    """Record the first time only; concurrent clicks cannot overwrite it."""
    db.session.execute(
        sa.update(Message).where(Message.id == message_id, column.is_(None)).values({column: at})
        .execution_options(synchronize_session=False))
    db.session.commit()


def _recovery_cart_id(message: Message) -> int | None:
    """The cart a click on this message counts for in the reports: recovery messages only."""
    automation = registry.get(message.kind)
    return message.cart_id if automation is not None and automation.counts_as_recovered else None


def _stamp_cart_click(cart_id: int | None, at: datetime) -> None:
    if cart_id is not None:
        db.session.execute(
            sa.update(Cart).where(Cart.id == cart_id, Cart.clicked_at.is_(None)).values(clicked_at=at)
            .execution_options(synchronize_session=False))


def note_recovery_click(message: Message, at: datetime) -> None:
    """A click on a recovery message: its cart keeps the first (the reports count clicked carts from it)."""
    _stamp_cart_click(_recovery_cart_id(message), at)


def record_click(code: str) -> str | None:
    """Where a click on this code goes (the cart's recovery URL with UTM parameters), or None if unknown. The way
    there needs only reads; the click is written now, or later if the database is busy (the shopper never waits)."""
    message = _message(code)
    if message is None:
        return None
    store = db.session.get(Store, message.store_id)
    # A test-send knows the cart it was rendered from, but a marketer's click must not open the shopper's cart.
    cart = db.session.get(Cart, message.cart_id) if message.cart_id and message.kind != TEST_SEND else None
    destination = f"https://{store.domain}/" if cart is None else recovery_url(cart, store, message)
    message_id, cart_id, at = message.id, _recovery_cart_id(message), clock.now()

    def stamp() -> None:
        _stamp_cart_click(cart_id, at)
        _stamp_first(message_id, Message.clicked_at, at)  # commits both

    database.now_or_later(f"click on message {message_id}", stamp)
    return destination


def record_open(code: str) -> None:
    message = _message(code)
    if message is not None and channel(message.channel).tracks_opens:
        message_id, at = message.id, clock.now()
        database.now_or_later(f"open of message {message_id}", lambda: _stamp_first(message_id, Message.opened_at, at))
