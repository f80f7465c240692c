"""People who use the admin panel, the stores each may see, and the login throttle's counters."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retainful import clock
from retainful.extensions import db
from retainful.models.store import Store
from retainful.models.types import UTCDateTime


class Role:
    ADMIN = "admin"  # every store
    OWNER = "owner"  # their stores: everything
    MARKETER = "marketer"  # their stores: templates, preview, test-send, reports; read-only elsewhere
    AGENT = "agent"  # their stores: the conversations inbox only

    ALL = (ADMIN, OWNER, MARKETER, AGENT)


user_store = sa.Table(
    "user_store",
    db.metadata,
    sa.Column("user_id", sa.ForeignKey("admin_user.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("store_id", sa.ForeignKey("store.id", ondelete="CASCADE"), primary_key=True),
    # The user's role in this store (migration 0027: an invitation's role); None: the user's own ``role``.
    sa.Column("role", sa.String(16), nullable=True),
)


class User(db.Model):
    __tablename__ = "admin_user"  # "user" is reserved in PostgreSQL

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str | None] = mapped_column(sa.String(100))  # set when an invitation is accepted
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    role: Mapped[str] = mapped_column(sa.String(16))
    active: Mapped[bool] = mapped_column(default=True)
    # Written into the session at login and compared on every request: bumping it ends every session of this user.
    session_version: Mapped[int] = mapped_column(default=1, server_default="1")
    # The admin's language ("en", "ko": users.LANGUAGES); None follows the browser's Accept-Language.
    locale: Mapped[str | None] = mapped_column(sa.String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)

    stores: Mapped[list[Store]] = relationship(secondary=user_store, order_by=Store.id)


class LoginThrottle(db.Model):
    """Recent failed logins of one account or one client address, kept by digest (never the email or the address).

    A row lives while failures keep coming; ``users`` prunes it once its key has been quiet for the failure window.
    """
    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(sa.String(80), primary_key=True)  # "account:<sha256>" or "address:<sha256>"
    failures: Mapped[int]
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Invitation(db.Model):
    """An owner's invitation of someone, by email, to one store with a role. The emailed link is a signed token naming
    the row (``retainful/people``); the row makes it single-use (``accepted_at``) and revocable (``revoked_at``)."""
    __tablename__ = "invitation"

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(sa.String(254))
    role: Mapped[str] = mapped_column(sa.String(16))
    invited_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("admin_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    store: Mapped[Store] = relationship()
