"""People who use the admin panel: creating them, checking passwords, throttling repeated failures, and which stores
each may see and what each may do there.

Passwords are hashed with werkzeug's default (scrypt, salted). Failed logins are counted per account: after
``MAX_FAILURES`` failures, each within ``FAILURE_WINDOW`` of the one before, the account refuses further attempts
(without checking the password) until ``LOCKOUT`` has passed since the last failure. Time comes from
:mod:`retainful.clock`, so the rule is testable without sleeping.
"""
from __future__ import annotations

import math
import secrets
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Iterable

import sqlalchemy as sa
from werkzeug.security import check_password_hash, generate_password_hash

from retainful import clock
from retainful.extensions import db
from retainful.models import Role, Store, User

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # scrypt hashes any length; this only bounds the work one request can ask for

# What each role may do within the stores it may see. Admins see every store; owners and marketers only theirs.
READ = "read"  # lists and details of carts, customers, orders, messages, coupons, the sequence
TEMPLATES = "templates"  # edit, preview, reset and test-send templates
REPORTS = "reports"  # the dashboard and report pages, CSV downloads
MANAGE = "manage"  # settings, key rotation, sequence edits, customer erase/export/opt-outs, message retries
CAPABILITIES = {
    Role.ADMIN: frozenset({READ, TEMPLATES, REPORTS, MANAGE}),
    Role.OWNER: frozenset({READ, TEMPLATES, REPORTS, MANAGE}),
    Role.MARKETER: frozenset({READ, TEMPLATES, REPORTS}),
}


class UserError(ValueError):
    """Input that cannot make a user (unknown role, bad email, short password, unknown store)."""


class LoginThrottled(Exception):
    """Too many recent failures: the account refuses attempts until ``until``."""

    def __init__(self, until: datetime):
        super().__init__(f"too many failed logins; try again after {until.isoformat()}")
        self.until = until

    @property
    def minutes(self) -> int:
        """Whole minutes left, at least 1 (for the message shown to the person)."""
        return max(1, math.ceil((self.until - clock.now()).total_seconds() / 60))


def normalise_email(email: str) -> str:
    """Admin logins are matched case-insensitively: the whole address is lower-cased."""
    value = (email or "").strip().lower()
    local, sep, domain = value.rpartition("@")
    if not sep or not local or "." not in domain or " " in value or len(value) > 254:
        raise UserError(f"{email!r} is not an email address")
    return value


def check_password_rules(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"the password may have at most {MAX_PASSWORD_LENGTH} characters")


def find_user(email: str) -> User | None:
    try:
        value = normalise_email(email)
    except UserError:
        return None
    return db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == value))


def create_user(email: str, password: str, role: str, store_ids: Iterable[int] = ()) -> User:
    """A new admin-panel user. Owners and marketers need at least one store; admins see every store anyway."""
    email = normalise_email(email)
    if role not in Role.ALL:
        raise UserError(f"role must be one of {', '.join(Role.ALL)}")
    check_password_rules(password)
    ids = sorted(set(store_ids))
    stores = list(db.session.scalars(sa.select(Store).where(Store.id.in_(ids)))) if ids else []
    missing = set(ids) - {store.id for store in stores}
    if missing:
        raise UserError(f"no store with id {', '.join(map(str, sorted(missing)))}")
    if role != Role.ADMIN and not stores:
        raise UserError(f"a{'n' if role == Role.OWNER else ''} {role} needs at least one store (--store ID)")
    if find_user(email) is not None:
        raise UserError(f"a user with the email {email} exists already")
    user = User(email=email, password_hash=generate_password_hash(password), role=role, stores=stores)
    db.session.add(user)
    db.session.commit()
    return user


def set_password(user: User, password: str) -> None:
    """A new password; clears the failure count, so a locked-out owner can be let back in."""
    check_password_rules(password)
    user.password_hash = generate_password_hash(password)
    user.failed_logins, user.last_failed_login_at = 0, None
    db.session.commit()


def generate_password() -> str:
    """A random password for generated accounts (the demo owner): 96 bits, URL-safe."""
    return secrets.token_urlsafe(12)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return generate_password_hash(secrets.token_hex(16))


def _recent_failures(user: User, now: datetime) -> int:
    if user.last_failed_login_at is None or now - user.last_failed_login_at >= FAILURE_WINDOW:
        return 0
    return user.failed_logins


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, or None.

    Raises :class:`LoginThrottled` while the account is locked out after repeated failures (the password is not even
    checked then), and on the failure that reaches the limit. A success clears the failure count.
    """
    user = find_user(email)
    if user is None or not user.active or not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
        check_password_hash(_dummy_hash(), password if isinstance(password, str) else "")  # same work either way
        return None
    now = clock.now()
    if _recent_failures(user, now) >= MAX_FAILURES:
        raise LoginThrottled(user.last_failed_login_at + LOCKOUT)
    if check_password_hash(user.password_hash, password):
        if user.failed_logins or user.last_failed_login_at:
            user.failed_logins, user.last_failed_login_at = 0, None
            db.session.commit()
        return user
    # One UPDATE, so concurrent attempts cannot lose a count: a failure after a quiet window starts again at 1.
    stale = User.last_failed_login_at.is_(None) | (User.last_failed_login_at <= now - FAILURE_WINDOW)
    db.session.execute(
        sa.update(User).where(User.id == user.id)
        .values(failed_logins=sa.case((stale, 1), else_=User.failed_logins + 1), last_failed_login_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    db.session.refresh(user)
    if user.failed_logins >= MAX_FAILURES:
        raise LoginThrottled(now + LOCKOUT)
    return None


def can(user: User, capability: str) -> bool:
    return capability in CAPABILITIES.get(user.role, frozenset())


def visible_stores(user: User) -> list[Store]:
    """The stores this user may pick: every store for an admin, their own for owners and marketers."""
    if user.role == Role.ADMIN:
        return list(db.session.scalars(sa.select(Store).order_by(Store.id)))
    return list(user.stores)


def may_see_store(user: User, store_id: int) -> bool:
    if user.role == Role.ADMIN:
        return db.session.get(Store, store_id) is not None
    return any(store.id == store_id for store in user.stores)
