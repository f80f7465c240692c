"""The tenant: one shop, its credentials and its recovery settings."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from retainful import clock
from retainful.extensions import db
from retainful.models.types import MONEY, UTCDateTime


class Store(db.Model):
    __tablename__ = "store"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    domain: Mapped[str] = mapped_column(sa.String(253))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    currency: Mapped[str] = mapped_column(sa.String(3), default="USD")
    locale: Mapped[str] = mapped_column(sa.String(16), default="en_US")
    country: Mapped[str | None] = mapped_column(sa.String(2))  # default region for phone numbers
    # The API key is shown once; only its SHA-256 is kept (keys carry 256 random bits, so a fast hash is enough).
    api_key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    api_key_prefix: Mapped[str] = mapped_column(sa.String(16))
    webhook_secret: Mapped[str] = mapped_column(sa.String(128))
    # The official Retainful WooCommerce plugin's "App ID" and "Secret Key" (retainful/plugin/). The secret keys the
    # plugin's HMAC and AES both ways, so it is kept retrievable, like the webhook secret (docs/DESIGN.md, Security).
    # Every store has them (create_store, migration 0015); the columns are nullable only because SQLite cannot make
    # an added column NOT NULL without rebuilding the table, which would cascade-delete its carts.
    retainful_app_id: Mapped[str | None] = mapped_column(sa.String(64), index=True, unique=True)
    retainful_secret_key: Mapped[str | None] = mapped_column(sa.String(64))
    # What the plugin's connect call said about the shop (domain, name, admin email, currency, timezone, ...).
    retainful_shop: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    retainful_connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The history import through the plugin (retainful/plugin/history.py): the last shop order id read (keyset), and
    # when the next run is due (set by the connect call, then daily; None: never connected).
    retainful_history_since_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    retainful_history_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    abandon_after_minutes: Mapped[int] = mapped_column(default=15)
    retention_days: Mapped[int] = mapped_column(default=60)  # carts, and customers who never ordered
    # Customers who have ordered: the automations that bring them back (win-back at 60 days) need them longer.
    customer_retention_days: Mapped[int] = mapped_column(default=730, server_default="730")
    paused: Mapped[bool] = mapped_column(default=False)
    sender_email: Mapped[str | None] = mapped_column(sa.String(254))  # default no-reply@<domain>
    sender_name: Mapped[str | None] = mapped_column(sa.String(100))  # default the store's name
    sms_sender: Mapped[str | None] = mapped_column(sa.String(15))  # alphanumeric id or number; default from the name
    postal_address: Mapped[str | None] = mapped_column(sa.String(500))  # CAN-SPAM: shown in every email
    quiet_hours_start: Mapped[int] = mapped_column(default=21)  # no SMS from this local hour ...
    quiet_hours_end: Mapped[int] = mapped_column(default=8)  # ... until this one
    email_cap_hours: Mapped[int] = mapped_column(default=16)  # one email per customer per this many hours
    sms_cap_hours: Mapped[int] = mapped_column(default=24)  # (across carts, not between one cart's steps)
    attribution_window_days: Mapped[int] = mapped_column(default=7)  # after the last message sent for the cart
    # A stable share of abandoned carts (by a hash of the cart) that gets no messages: the control group that
    # measures true lift. 0 = off; 10 is a sensible choice once a store has enough traffic.
    holdout_percent: Mapped[int] = mapped_column(default=0)
    # The next-order coupon rule.
    next_order_enabled: Mapped[bool] = mapped_column(default=True)
    next_order_statuses: Mapped[str] = mapped_column(sa.String(200), default="processing,completed")
    next_order_minimum: Mapped[Decimal | None] = mapped_column(MONEY)
    next_order_first_only: Mapped[bool] = mapped_column(default=False)
    next_order_allow_chained: Mapped[bool] = mapped_column(default=False)  # an order using one earns another
    next_order_type: Mapped[str] = mapped_column(sa.String(16), default="percent")
    next_order_amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(20))
    next_order_valid_days: Mapped[int] = mapped_column(default=30)
    # The WooCommerce connection (optional): coupon sync and the order pull that covers missed webhooks.
    woo_url: Mapped[str | None] = mapped_column(sa.String(500))
    woo_consumer_key: Mapped[str | None] = mapped_column(sa.String(200))
    woo_consumer_secret: Mapped[str | None] = mapped_column(sa.String(200))
    woo_orders_pulled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # An order pull stopped by its page cap or time budget: the window's modified_after and the page to resume at.
    woo_pull_cursor_after: Mapped[datetime | None] = mapped_column(UTCDateTime())
    woo_pull_cursor_page: Mapped[int | None] = mapped_column()
    recovery_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The last real exchange with the shop of each connection, "woo_" (the REST keys) and "retainful_" (the plugin):
    # when, whether it worked, and the last failure's reason in words and time (retainful/stores/connections.py).
    woo_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    woo_check_ok: Mapped[bool | None] = mapped_column()
    woo_failure: Mapped[str | None] = mapped_column(sa.String(300))
    woo_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retainful_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retainful_check_ok: Mapped[bool | None] = mapped_column()
    retainful_failure: Mapped[str | None] = mapped_column(sa.String(300))
    retainful_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Conversations (retainful/conversations/, migration 0021): the persona replies are signed with, how long an open
    # conversation holds the shopper's marketing messages, and the helpdesk webhook that receives inbound messages.
    persona_name: Mapped[str | None] = mapped_column(sa.String(100))  # "Sarah from Acme"; default the store's name
    persona_signature: Mapped[str | None] = mapped_column(sa.String(500))
    conversation_pause_hours: Mapped[int] = mapped_column(default=48, server_default="48")
    conversation_webhook_url: Mapped[str | None] = mapped_column(sa.String(500))
    # The dashboard's first-run checklist (retainful/stores/checklist.py, migration 0029): the first test-send, the
    # owner's "looks good" on the sequence (or a step saved), the automations chosen (a switch, or a confirmation).
    test_send_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sequence_reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    automations_chosen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)

    @property
    def abandon_after(self) -> timedelta:
        return timedelta(minutes=self.abandon_after_minutes)

    @property
    def retention(self) -> timedelta:
        return timedelta(days=self.retention_days)

    @property
    def customer_retention(self) -> timedelta:
        """Never shorter than the carts' retention: a buyer is kept at least as long as a shopper who did not buy."""
        return timedelta(days=max(self.customer_retention_days, self.retention_days))

    @property
    def from_email(self) -> str:
        return self.sender_email or f"no-reply@{self.domain}"

    @property
    def from_name(self) -> str:
        return self.sender_name or self.name

    @property
    def sms_from(self) -> str:
        """Alphanumeric sender ids are at most 11 characters, letters and digits."""
        return self.sms_sender or ("".join(ch for ch in self.name if ch.isalnum())[:11] or "Shop")

    @property
    def persona(self) -> str:
        return self.persona_name or self.name

    @property
    def woo_connected(self) -> bool:
        return bool(self.woo_url and self.woo_consumer_key and self.woo_consumer_secret)

    @property
    def next_order_status_set(self) -> set[str]:
        return {s.strip() for s in self.next_order_statuses.split(",") if s.strip()}

    def __repr__(self) -> str:
        return f"<Store {self.id} {self.domain}>"
