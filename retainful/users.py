"""People who use the admin panel: creating them, checking passwords, throttling repeated failures, ending their
sessions, and which stores each may see and what each may do there.

Passwords are hashed with werkzeug's default (scrypt, salted). Failed logins are counted per submitted account
(known or not: the answer never tells which accounts exist) and per client address. Past a key's free failures, each
further attempt must wait a delay that doubles with every failure, up to ``MAX_DELAY``; the password is not checked
while a delay runs, and the right password logs in once it has passed (a delay, never a lockout). A key quiet for
``FAILURE_WINDOW`` starts again from zero. Time comes from :mod:`retainful.clock`, so the rules are testable without
sleeping.

A session carries the user's ``session_version`` from its login; logout and a password change bump the version,
which ends every session of that user on the server (a copied cookie stops working too).
"""
from __future__ import annotations

import hashlib
import ipaddress
import math
import secrets
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Iterable

import sqlalchemy as sa
from werkzeug.security import check_password_hash, generate_password_hash

from retainful import clock
from retainful.extensions import db
from retainful.models import Role, Store, User, user_store
from retainful.models.user import LoginThrottle
from retainful.words import N_

ACCOUNT_FREE_FAILURES = 5  # failures of one account before each attempt must wait
ADDRESS_FREE_FAILURES = 20  # failures from one client address (an office behind one NAT shares it)
FIRST_DELAY = timedelta(seconds=2)  # the wait after the last free failure; it doubles with each further failure
MAX_DELAY = timedelta(minutes=15)
FAILURE_WINDOW = timedelta(hours=1)  # longer than MAX_DELAY, so waiting out the delays never resets the count
IPV6_PREFIX = 64  # one IPv6 client owns at least a /64: it counts as one address
MIN_PASSWORD_LENGTH = 8
# The admin's languages, each named in itself (a Korean reader finds "한국어" in an English menu).
LANGUAGES = {"en": "English", "ko": "한국어"}
MAX_PASSWORD_LENGTH = 1024  # scrypt hashes any length; this only bounds the work one request can ask for

# What each role may do within the stores it may see. Admins see every store; owners, marketers and agents only theirs.
READ = "read"  # lists and details of carts, customers, orders, messages, coupons, the sequence
TEMPLATES = "templates"  # edit, preview, reset and test-send templates
REPORTS = "reports"  # the dashboard and report pages, CSV downloads
MANAGE = "manage"  # settings, key rotation, sequence edits, customer erase/export/opt-outs, message retries
CONVERSE = "converse"  # the conversations inbox: read threads, reply, assign, close, reopen
CAMPAIGNS = "campaigns"  # create, schedule and cancel campaigns (marketing is the marketer's job)
CAPABILITIES = {
    Role.ADMIN: frozenset({READ, TEMPLATES, REPORTS, MANAGE, CONVERSE, CAMPAIGNS}),
    Role.OWNER: frozenset({READ, TEMPLATES, REPORTS, MANAGE, CONVERSE, CAMPAIGNS}),
    Role.MARKETER: frozenset({READ, TEMPLATES, REPORTS, CAMPAIGNS}),
    Role.AGENT: frozenset({CONVERSE}),  # conversations only: every other admin page answers 403
}


class UserError(ValueError):
    """Input that cannot make a user (unknown role, bad email, short password, unknown store); ``reason`` is the
    message as given (a password rule's is marked words, shown in the admin in the reader's language)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class LoginThrottled(Exception):
    """Too many recent failures for this account or from this address: no attempt is checked until ``until``."""

    def __init__(self, until: datetime):
        super().__init__(f"too many failed logins; try again after {until.isoformat()}")
        self.until = until

    @property
    def seconds(self) -> int:
        """Whole seconds left, at least 1 (for ``Retry-After`` and the message shown to the person)."""
        return max(1, math.ceil((self.until - clock.now()).total_seconds()))


def normalise_email(email: str) -> str:
    """Admin logins are matched case-insensitively: the whole address is lower-cased."""
    value = (email or "").strip().lower()
    local, sep, domain = value.rpartition("@")
    if (not sep or not local or "." not in domain or len(value) > 254
            or any(ch.isspace() or not ch.isprintable() for ch in value)):  # NUL, controls, lone surrogates
        raise UserError(f"{email!r} is not an email address")
    return value


def check_password_rules(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(N_("the password needs at least %(min)s characters", min=MIN_PASSWORD_LENGTH))
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(N_("the password may have at most %(max)s characters", max=MAX_PASSWORD_LENGTH))
    if any(ch == "\x00" or "\ud800" <= ch <= "\udfff" for ch in password):  # UTF-8 cannot hash a lone surrogate
        raise UserError(N_("the password must not contain NUL characters or unpaired surrogates"))


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
        raise UserError(f"a{'n' if role in (Role.OWNER, Role.AGENT) else ''} {role} needs at least one store (--store ID)")
    if find_user(email) is not None:
        raise UserError(f"a user with the email {email} exists already")
    user = User(email=email, password_hash=generate_password_hash(password), role=role, stores=stores)
    db.session.add(user)
    db.session.commit()
    return user


def set_password(user: User, password: str) -> None:
    """A new password; ends the user's sessions (a leaked one stops working) and clears the account's delay."""
    check_password_rules(password)
    user.password_hash = generate_password_hash(password)
    db.session.execute(sa.delete(LoginThrottle).where(LoginThrottle.key == _account_key(user.email)))
    end_sessions(user)


def set_locale(user: User, locale: str | None) -> None:
    """The language the admin shows this user; None follows the browser's Accept-Language."""
    if locale is not None and locale not in LANGUAGES:
        raise UserError(f"locale must be one of {', '.join(LANGUAGES)}")
    user.locale = locale
    db.session.commit()


def end_sessions(user: User) -> None:
    """Every session of this user stops working at its next request (logout, password change)."""
    db.session.execute(sa.update(User).where(User.id == user.id)
                       .values(session_version=User.session_version + 1).execution_options(synchronize_session=False))
    db.session.commit()
    db.session.refresh(user)


def session_is_current(user: User, version: object, last_seen: object, max_idle: timedelta) -> bool:
    """A session is good while it carries the user's current version and was used within ``max_idle``."""
    if type(version) is not int or version != user.session_version or type(last_seen) not in (int, float):
        return False
    return clock.now().timestamp() - last_seen <= max_idle.total_seconds()


def generate_password() -> str:
    """A random password for generated accounts (the demo owner): 96 bits, URL-safe."""
    return secrets.token_urlsafe(12)


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A hash of no password: unknown accounts cost the same work as known ones."""
    return generate_password_hash(secrets.token_hex(16))


def _digest(kind: str, value: str) -> str:
    return f"{kind}:{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()}"


def _account_key(email: str) -> str:
    """The submitted login as typed (trimmed, lower-cased): unknown accounts are throttled exactly like known ones."""
    return _digest("account", (email or "").strip().lower())


def _address_key(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return _digest("address", address)
    if ip.version == 6:
        if ip.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is the IPv4 client 192.0.2.1
            return _digest("address", str(ip.ipv4_mapped))
        return _digest("address", str(ipaddress.ip_network(f"{ip}/{IPV6_PREFIX}", strict=False)))
    return _digest("address", str(ip))


def _delay(failures: int, free: int) -> timedelta | None:
    """The wait imposed after ``failures`` failures: none within the free ones, then doubling up to MAX_DELAY."""
    if failures < free:
        return None
    return min(MAX_DELAY, FIRST_DELAY * 2 ** min(failures - free, 20))


def _until(now: datetime, delay: timedelta | None) -> datetime | None:
    return now + delay if delay is not None else None


def _count_attempt(key: str, free: int, now: datetime) -> datetime | None:
    """Count an attempt as a failure before its password is checked, so parallel attempts cannot slip past the limit.

    Returns the end of a delay that is still running (the attempt is refused and not counted), else None. The row is
    changed only if nobody changed it since it was read (compare and set), which holds across web workers.
    """
    for _ in range(10):
        row = db.session.execute(sa.select(LoginThrottle.failures, LoginThrottle.last_failure_at,
                                           LoginThrottle.blocked_until).where(LoginThrottle.key == key)).one_or_none()
        if row is None:
            try:
                with db.session.begin_nested():
                    db.session.add(LoginThrottle(key=key, failures=1, last_failure_at=now,
                                                 blocked_until=_until(now, _delay(1, free))))
                return None
            except sa.exc.IntegrityError:  # another attempt made the row first: count on it
                continue
        if row.blocked_until is not None and row.blocked_until > now:
            return row.blocked_until
        failures = row.failures + 1
        changed = db.session.execute(
            sa.update(LoginThrottle)
            .where(LoginThrottle.key == key, LoginThrottle.failures == row.failures,
                   LoginThrottle.last_failure_at == row.last_failure_at)
            .values(failures=failures, last_failure_at=now, blocked_until=_until(now, _delay(failures, free)))
            .execution_options(synchronize_session=False)).rowcount
        if changed:
            return None
    return now + FIRST_DELAY  # contended beyond reason: treat it as throttled rather than check the password


def _forgive(keys: dict[str, int], now: datetime) -> None:
    """A successful login: the account starts again from zero; the address gets back the attempt counted for it."""
    for key in keys:
        if key.startswith("account:"):
            db.session.execute(sa.delete(LoginThrottle).where(LoginThrottle.key == key))
        else:
            db.session.execute(
                sa.update(LoginThrottle).where(LoginThrottle.key == key, LoginThrottle.last_failure_at == now)
                .values(failures=LoginThrottle.failures - 1, blocked_until=None)
                .execution_options(synchronize_session=False))
    db.session.commit()


def authenticate(email: str, password: str, address: str | None = None) -> User | None:
    """The active user with this email and password, or None. ``address`` is the client's IP address.

    Raises :class:`LoginThrottled` while a delay runs for this account or this address (the password is not checked
    then), and on the failure that starts a delay. Known and unknown accounts cost the same scrypt work and get the
    same answers.
    """
    now = clock.now()
    db.session.execute(sa.delete(LoginThrottle).where(LoginThrottle.last_failure_at <= now - FAILURE_WINDOW))
    keys = {_address_key(address): ADDRESS_FREE_FAILURES} if address else {}
    keys[_account_key(email)] = ACCOUNT_FREE_FAILURES
    for key, free in keys.items():
        until = _count_attempt(key, free, now)
        if until is not None:
            db.session.commit()
            raise LoginThrottled(until)
    db.session.commit()  # the attempt is counted for every worker before the slow hash runs

    user = find_user(email)
    usable = isinstance(password, str) and len(password) <= MAX_PASSWORD_LENGTH
    if user is None or not user.active or not usable:
        check_password_hash(dummy_hash(), password if usable else "")  # same work either way
    elif check_password_hash(user.password_hash, password):
        _forgive(keys, now)
        return user
    until = db.session.scalar(sa.select(sa.func.max(LoginThrottle.blocked_until))
                              .where(LoginThrottle.key.in_(keys), LoginThrottle.blocked_until > now))
    if until is not None:
        raise LoginThrottled(until)
    return None


def role_in(user: User, store_id: int | None) -> str:
    """The user's role in a store: an admin's is admin everywhere; a member's is the store's role for them
    (``user_store.role``, set by an invitation or a role change), else their own ``role``."""
    if user.role == Role.ADMIN or store_id is None:
        return user.role
    membership = db.session.execute(sa.select(user_store.c.role).where(
        user_store.c.user_id == user.id, user_store.c.store_id == store_id)).one_or_none()
    return (membership.role if membership is not None else None) or user.role


def count_requests(kind: str, email: str, address: str | None, account_free: int, address_free: int) -> None:
    """Count one request of ``kind`` (a password reset) for the submitted address and the client, throttled like
    logins (free requests, then a doubling wait): raises :class:`LoginThrottled` while a wait runs. Known and
    unknown addresses are counted alike. Commits."""
    now = clock.now()
    db.session.execute(sa.delete(LoginThrottle).where(LoginThrottle.last_failure_at <= now - FAILURE_WINDOW))
    keys = {_digest(f"{kind}-account", (email or "").strip().lower()): account_free}
    if address:
        keys[f"{kind}-{_address_key(address)}"] = address_free
    for key, free in keys.items():
        until = _count_attempt(key, free, now)
        if until is not None:
            db.session.commit()
            raise LoginThrottled(until)
    db.session.commit()


def can(user: User, capability: str, store_id: int | None = None) -> bool:
    """Whether the user's role (in ``store_id``, when given) carries the capability."""
    return capability in CAPABILITIES.get(role_in(user, store_id), frozenset())


def visible_stores(user: User) -> list[Store]:
    """The stores this user may pick: every store for an admin, their own for owners and marketers."""
    if user.role == Role.ADMIN:
        return list(db.session.scalars(sa.select(Store).order_by(Store.id)))
    return list(user.stores)


def may_see_store(user: User, store_id: int) -> bool:
    if user.role == Role.ADMIN:
        return db.session.get(Store, store_id) is not None
    return any(store.id == store_id for store in user.stores)
