"""People and accounts: ``/admin/people/`` (owners and admins: members of the current store, invitations, role
changes, removal), ``/admin/account`` (anyone: their own password), and the pages reached from emailed links,
``/admin/forgot-password``, ``/admin/reset/<token>``, ``/admin/invite/<token>`` (no login needed). Each calls one
function of :mod:`retainful.people`."""
from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user, logout_user

from retainful_admin import forms
from retainful_admin.i18n import label
from retainful_admin.security import SecuredMixin, current_store, log_in, select_store
from retainful import people, users
from retainful.extensions import db
from retainful.people import PeopleError

FORGOT_ANSWER = _l("If an account exists for that address, we've emailed it a link to choose a new password. "
                   "The link works for an hour.")
BAD_LINK = _l("This link is not valid any more: it has expired or was used already.")


def _errors(error: PeopleError | None, password_field: str = "password") -> dict[str, str]:
    """The refused field and its sentence in the reader's language, for the form macros (the domain's ``password`` is
    the form's ``password_field``)."""
    if error is None:
        return {}
    return {password_field if error.field == "password" else error.field: forms.field_message(error)}


class PeopleView(SecuredMixin, BaseView):
    capability = users.MANAGE

    def _page(self, error: PeopleError | None = None, status: int = 200):
        store = current_store()
        return self.render("retainful_admin/people.html", members=people.members(store), errors=_errors(error),
                           invitations=people.open_invitations(store), roles=people.INVITABLE_ROLES,
                           role_pairs=[(role, label(role)) for role in people.INVITABLE_ROLES],
                           values=request.form if error else {}), status

    def _act(self, action, done: str):
        try:
            found = action()
        except PeopleError as error:
            db.session.rollback()
            return self._page(error, 400)
        if found in (None, False):
            abort(404)  # another store's person or invitation: nobody here
        flash(done, "success")
        return redirect(url_for(".index"))

    @expose("/")
    def index(self):
        return self._page()

    @expose("/invite", methods=("POST",))
    def invite(self):
        return self._act(lambda: people.invite(current_store(), current_user.user, request.form.get("email", ""),
                                               request.form.get("role", "")), _("Invitation sent."))

    @expose("/<int:user_id>/role", methods=("POST",))
    def role(self, user_id: int):
        return self._act(lambda: people.change_role(current_store(), user_id, request.form.get("role", "")),
                         _("Role changed."))

    @expose("/<int:user_id>/remove", methods=("POST",))
    def remove(self, user_id: int):
        return self._act(lambda: people.remove(current_store(), user_id), _("Removed from the store."))

    @expose("/invitations/<int:invitation_id>/revoke", methods=("POST",))
    def revoke(self, invitation_id: int):
        return self._act(lambda: people.revoke(current_store(), invitation_id), _("Invitation withdrawn."))


class AccountView(SecuredMixin, BaseView):
    """``/admin/account``: the signed-in person's own password, whatever their role, with or without a store."""

    storeless_views = frozenset({"account"})

    def is_visible(self) -> bool:
        return False

    def is_accessible(self) -> bool:
        return current_user.is_authenticated

    @expose("/", methods=("GET", "POST"))
    @expose("", methods=("GET", "POST"))
    def account(self):
        error, status = None, 200
        if request.method == "POST":
            if request.form.get("new_password") != request.form.get("confirm_password"):
                error, status = PeopleError("confirm_password", _("The two new passwords differ.")), 400
            else:
                try:
                    people.change_password(current_user.user, request.form.get("current_password", ""),
                                           request.form.get("new_password", ""))
                except PeopleError as failed:
                    error, status = failed, 400
                else:
                    log_in(current_user.user)  # every other session ended; this one goes on
                    flash(_("Password changed. Your other sessions are logged out."), "success")
                    return redirect(url_for(".account"))
        return self.render("retainful_admin/account.html", errors=_errors(error, "new_password")), status


class EmailedLinkPages:
    """Pages that need no login, mixed into the admin's home view (so they live at ``/admin/...``): "forgot
    password", and the pages the emailed reset and invitation links open. The home view lists them as public."""

    PUBLIC = frozenset({"forgot_password", "reset", "invite"})

    @expose("/forgot-password", methods=("GET", "POST"))
    def forgot_password(self):
        from retainful_admin.home import wait_words  # the home view mixes these pages in

        sent, error, status, headers = False, None, 200, {}
        if request.method == "POST":
            try:
                people.request_reset(_text(request.form.get("email")), request.remote_addr)
            except users.LoginThrottled as throttled:
                error, status = _("Too many requests. Try again in %(wait)s.", wait=wait_words(throttled.seconds)), 429
                headers["Retry-After"] = str(throttled.seconds)
            else:
                sent = True
        return self.render("retainful_admin/forgot_password.html", sent=sent, answer=FORGOT_ANSWER,
                           error=error), status, headers

    @expose("/reset/<token>", methods=("GET", "POST"))
    def reset(self, token: str):
        user = people.reset_user(token)
        if user is None:
            return self.render("retainful_admin/link_invalid.html", message=BAD_LINK), 400
        error = None
        if request.method == "POST":
            if request.form.get("new_password") != request.form.get("confirm_password"):
                error = PeopleError("confirm_password", _("The two passwords differ."))
            else:
                try:
                    people.reset_password(token, request.form.get("new_password", ""))
                except PeopleError as failed:
                    error = failed
                else:
                    if current_user.is_authenticated:
                        logout_user()
                    flash(_("Your password is changed: log in with it."), "success")
                    return redirect(url_for("admin.login"))
        return self.render("retainful_admin/reset_password.html", errors=_errors(error, "new_password"),
                           token=token), 400 if error else 200

    @expose("/invite/<token>", methods=("GET", "POST"))
    def invite(self, token: str):
        invitation = people.invitation_for(token)
        if invitation is None:
            return self.render("retainful_admin/link_invalid.html", message=BAD_LINK), 400
        signed_in = current_user.is_authenticated
        existing = users.find_user(invitation.email)
        error = None
        if request.method == "POST":
            try:
                if signed_in:
                    people.accept_existing(invitation, current_user.user)
                    user = current_user.user
                elif request.form.get("password") != request.form.get("confirm_password"):
                    raise PeopleError("confirm_password", _("The two passwords differ."))
                else:
                    user = people.accept_new(invitation, _text(request.form.get("name")),
                                             request.form.get("password", ""))
                    log_in(user)
            except PeopleError as failed:
                db.session.rollback()
                error = failed
            else:
                select_store(invitation.store_id)
                flash(_("Welcome to %(store)s.", store=invitation.store.name), "success")
                return redirect(url_for("admin.index"))
        return self.render("retainful_admin/invite.html", invitation=invitation, signed_in=signed_in,
                           existing=existing is not None, errors=_errors(error), token=token,
                           values=request.form if error else {}), 400 if error else 200


def _text(value: str | None) -> str:
    """A form field as text the domain can check (a NUL or lone surrogate is refused there, never stored)."""
    return (value or "").strip()
