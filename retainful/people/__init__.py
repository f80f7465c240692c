"""People of a store: invitations by email (a signed, expiring link naming a single-use row), members with a role
per store, role changes and removal that never leave a store without an owner, and password resets by a signed,
expiring link that the reset itself invalidates (it carries a fingerprint of the password hash it replaces).

Account mail (:mod:`retainful.people.mail`) goes straight through the configured email provider: it is no shopper
message, so no consent, caps or quiet hours. Nothing here logs an address, and ``request_reset`` answers and works
the same whether or not the address has an account.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer
from werkzeug.security import check_password_hash

from retainful import clock, users
from retainful.extensions import db
from retainful.models import Invitation, Role, Store, User, user_store
from retainful.people import mail
from retainful.text import unstorable_path
from retainful.urls import public_urls
from retainful.words import N_

log = logging.getLogger(__name__)

INVITE_TTL = timedelta(days=7)
RESET_TTL = timedelta(hours=1)
INVITABLE_ROLES = (Role.OWNER, Role.MARKETER, Role.AGENT)
RESET_ACCOUNT_FREE = 3  # reset requests for one address an hour before each further one must wait
RESET_ADDRESS_FREE = 20  # from one client address
_INVITE_SALT, _RESET_SALT = "retainful.invite", "retainful.reset"


class PeopleError(ValueError):
    """A refused change, naming the form field."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


@dataclass(frozen=True)
class Member:
    user: User
    role: str


class _ClockSigner(TimestampSigner):
    """Signs and ages tokens by :mod:`retainful.clock`, like every other time in the service."""

    def get_timestamp(self) -> int:
        return int(clock.now().timestamp())


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt, signer=_ClockSigner)


# --- members -------------------------------------------------------------------------------------------------------

def members(store: Store) -> list[Member]:
    """The store's people (admins, who see every store, are not members), by email."""
    rows = db.session.execute(sa.select(User, user_store.c.role).join(user_store, user_store.c.user_id == User.id)
                              .where(user_store.c.store_id == store.id).order_by(User.email))
    return [Member(user, role or user.role) for user, role in rows]


def member(store: Store, user_id: int) -> Member | None:
    """One member of the store, or None (another store's user is nobody here)."""
    return next((m for m in members(store) if m.user.id == user_id), None)


def _owners(store: Store) -> int:
    return sum(1 for m in members(store) if m.role == Role.OWNER and m.user.active)


def _checked_role(role: str) -> str:
    if role not in INVITABLE_ROLES:
        raise PeopleError("role", N_("The role must be one of %(roles)s.", roles=", ".join(INVITABLE_ROLES)))
    return role


def change_role(store: Store, user_id: int, role: str) -> Member | None:
    """Set a member's role in this store; the store's last owner cannot be demoted. None if no such member."""
    role = _checked_role(role)
    found = member(store, user_id)
    if found is None:
        return None
    if found.role == Role.OWNER and role != Role.OWNER and _owners(store) <= 1:
        raise PeopleError("role", N_("This is the store's only owner: make someone else an owner first."))
    db.session.execute(sa.update(user_store).where(user_store.c.user_id == user_id,
                                                   user_store.c.store_id == store.id).values(role=role))
    db.session.commit()
    return Member(found.user, role)


def remove(store: Store, user_id: int) -> bool:
    """Take a member out of this store (their account stays, with their other stores); not the last owner. False
    if no such member. Their sessions end, so a page left open in this store stops working at once."""
    found = member(store, user_id)
    if found is None:
        return False
    if found.role == Role.OWNER and _owners(store) <= 1:
        raise PeopleError("user", N_("This is the store's only owner: make someone else an owner first."))
    db.session.execute(sa.delete(user_store).where(user_store.c.user_id == user_id,
                                                   user_store.c.store_id == store.id))
    users.end_sessions(found.user)
    return True


# --- invitations ---------------------------------------------------------------------------------------------------

def invite(store: Store, inviter: User, email: str, role: str) -> Invitation:
    """Invite someone to the store with a role and email them the link (valid ``INVITE_TTL``). An earlier open
    invitation of the same address to this store is replaced. Commits."""
    try:
        address = users.normalise_email(email)
    except users.UserError:
        raise PeopleError("email", N_("Enter an email address such as name@example.com.")) from None
    role = _checked_role(role)
    existing = users.find_user(address)
    if existing is not None and member(store, existing.id) is not None:
        raise PeopleError("email", N_("This person is already a member of the store."))
    now = clock.now()
    db.session.execute(sa.update(Invitation).where(
        Invitation.store_id == store.id, Invitation.email == address, Invitation.accepted_at.is_(None),
        Invitation.revoked_at.is_(None)).values(revoked_at=now))
    invitation = Invitation(store_id=store.id, email=address, role=role, invited_by_id=inviter.id,
                            created_at=now, expires_at=now + INVITE_TTL)
    db.session.add(invitation)
    db.session.commit()
    link = f"{public_urls(current_app).admin()}/invite/{invite_token(invitation)}"
    mail.send(address, f"You're invited to {store.name} on Retainful",
              f"{inviter.name or inviter.email} invited you to help run {store.name} on Retainful as {role}.\n\n"
              f"Accept the invitation: {link}\n\nThe link works once, for {INVITE_TTL.days} days.",
              from_name=store.from_name, from_email=store.from_email)
    log.info("store %s: invitation %s sent (role %s)", store.id, invitation.id, role)
    return invitation


def invite_token(invitation: Invitation) -> str:
    """The signed token of an invitation's link (``/admin/invite/<token>``)."""
    return _serializer(_INVITE_SALT).dumps(invitation.id)


def open_invitations(store: Store) -> list[Invitation]:
    return list(db.session.scalars(sa.select(Invitation).where(
        Invitation.store_id == store.id, Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None),
        Invitation.expires_at > clock.now()).order_by(Invitation.created_at.desc())))


def revoke(store: Store, invitation_id: int) -> bool:
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None or invitation.store_id != store.id or invitation.accepted_at is not None:
        return False
    invitation.revoked_at = invitation.revoked_at or clock.now()
    db.session.commit()
    return True


def invitation_for(token: str) -> Invitation | None:
    """The open invitation a link names: signed by us, not expired, not accepted or revoked; else None."""
    try:
        invitation_id = _serializer(_INVITE_SALT).loads(token, max_age=int(INVITE_TTL.total_seconds()))
    except (BadSignature, ValueError, TypeError):
        return None
    invitation = db.session.get(Invitation, invitation_id) if type(invitation_id) is int else None
    if invitation is None or invitation.accepted_at or invitation.revoked_at or invitation.expires_at <= clock.now():
        return None
    return invitation


def _claim(invitation: Invitation) -> bool:
    """Mark the invitation used; False if another request used it first (single use even when two race)."""
    return db.session.execute(sa.update(Invitation).where(Invitation.id == invitation.id,
                                                          Invitation.accepted_at.is_(None))
                              .values(accepted_at=clock.now()).execution_options(synchronize_session=False)
                              ).rowcount == 1


def accept_new(invitation: Invitation, name: str, password: str) -> User:
    """A new account for the invited address, member of the store with the invitation's role. Commits."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 100 or unstorable_path(name):
        raise PeopleError("name", N_("Your name: 1 to 100 characters, no NUL characters or unpaired surrogates."))
    try:
        users.check_password_rules(password)
    except users.UserError as error:
        raise PeopleError("password", error.reason) from None
    if users.find_user(invitation.email) is not None:
        raise PeopleError("email", N_("An account with this address exists: log in to accept."))
    if not _claim(invitation):
        raise PeopleError("token", N_("This invitation was used already."))
    user = users.create_user(invitation.email, password, invitation.role, [invitation.store_id])
    user.name = name
    _set_membership_role(user, invitation)
    return user


def accept_existing(invitation: Invitation, user: User) -> None:
    """The logged-in account of the invited address joins the store with the invitation's role. Commits."""
    if user.email != invitation.email:
        raise PeopleError("email", N_("This invitation is for another email address: log in with that one."))
    if not _claim(invitation):
        raise PeopleError("token", N_("This invitation was used already."))
    if member(invitation.store, user.id) is None:
        db.session.execute(sa.insert(user_store).values(user_id=user.id, store_id=invitation.store_id))
    _set_membership_role(user, invitation)


def _set_membership_role(user: User, invitation: Invitation) -> None:
    db.session.execute(sa.update(user_store).where(user_store.c.user_id == user.id,
                                                   user_store.c.store_id == invitation.store_id)
                       .values(role=invitation.role))
    db.session.commit()


# --- passwords -----------------------------------------------------------------------------------------------------

def _fingerprint(user: User) -> str:
    """Changes whenever the password does: a reset link names the hash it replaces, so using it ends it."""
    return hmac.new(current_app.config["SECRET_KEY"].encode(), user.password_hash.encode(),
                    hashlib.sha256).hexdigest()[:32]


def request_reset(email: str, address: str | None) -> None:
    """"Forgot password": email a reset link if the address has an active account. The same work either way (the
    token is made and the email composed; only the send is skipped, and it happens in the background, so the answer
    comes as fast either way), and the same answer for the caller. Raises
    :class:`users.LoginThrottled` past ``RESET_ACCOUNT_FREE`` requests for one address an hour (or too many from one
    client), known account or not."""
    users.count_requests("reset", email, address, RESET_ACCOUNT_FREE, RESET_ADDRESS_FREE)
    user = users.find_user(email)
    known = user is not None and user.active
    token = reset_token(user if known else User(id=0, email="nobody@invalid", password_hash=users.dummy_hash()))
    link = f"{public_urls(current_app).admin()}/reset/{token}"
    body = (f"Someone asked to reset the password of this Retainful account.\n\nChoose a new password: {link}\n\n"
            f"The link works once, for {int(RESET_TTL.total_seconds() // 60)} minutes. If it wasn't you, ignore this "
            f"email: your password stays as it is.")
    if known:
        mail.send_soon(user.email, "Reset your Retainful password", body)


def reset_token(user: User) -> str:
    """The signed token of a reset link (``/admin/reset/<token>``) for the user's current password."""
    return _serializer(_RESET_SALT).dumps([user.id, _fingerprint(user)])


def reset_user(token: str) -> User | None:
    """The active user a reset link is for, while it is fresh and the password is still the one it replaces."""
    try:
        user_id, fingerprint = _serializer(_RESET_SALT).loads(token, max_age=int(RESET_TTL.total_seconds()))
    except (BadSignature, ValueError, TypeError):
        return None
    user = db.session.get(User, user_id) if type(user_id) is int else None
    if user is None or not user.active or not isinstance(fingerprint, str) \
            or not hmac.compare_digest(fingerprint, _fingerprint(user)):
        return None
    return user


def reset_password(token: str, password: str) -> User | None:
    """Set the new password through a reset link (ending every session and the link itself); None for a bad link."""
    user = reset_user(token)
    if user is None:
        return None
    _set_password(user, password)
    return user


def change_password(user: User, current: str, new: str) -> None:
    """The user's own change: the current password is required. Ends every session (the caller logs this one in
    again)."""
    if not isinstance(current, str) or not check_password_hash(user.password_hash, current[:users.MAX_PASSWORD_LENGTH]):
        raise PeopleError("current_password", N_("The current password is not right."))
    _set_password(user, new)


def _set_password(user: User, password: str) -> None:
    try:
        users.set_password(user, password)
    except users.UserError as error:
        db.session.rollback()
        raise PeopleError("password", error.reason) from None


__all__ = ["INVITABLE_ROLES", "Member", "PeopleError", "accept_existing", "accept_new", "change_password",
           "change_role", "invitation_for", "invite", "invite_token", "member", "members", "open_invitations", "remove",
           "request_reset", "reset_password", "reset_token", "reset_user", "revoke"]
