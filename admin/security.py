"""Who is logged in, which store they are looking at, and what they may do there.

Every admin view derives from :class:`SecuredView`: anonymous visitors are sent to the login page, a logged-in user
without the view's capability gets 403, and :func:`get_scoped_or_404` answers 404 for any id outside the current
store, so scoping holds for typed URLs and not only in menus. CSRF protection (Flask-WTF) covers every POST.

The session cookie is signed but lives in the browser, so the server checks it on every request: it must carry the
user's current session version (logout and a password change bump it) and a last-seen time within
``ADMIN_SESSION_HOURS``, refreshed as the session is used.
"""
from __future__ import annotations

from datetime import timedelta
from functools import wraps
from typing import Any, Callable, TypeVar
from urllib.parse import urlsplit

from flask import abort, current_app, g, jsonify, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import LoginManager, UserMixin, current_user, login_user
from flask_wtf.csrf import CSRFProtect

from retainful_admin import error_pages, forms
from retainful import clock, users
from retainful.extensions import db
from retainful.models import Store, User
from retainful.models.types import MAX_ID

login_manager = LoginManager()
csrf = CSRFProtect()

STORE_SESSION_KEY = "admin_store_id"
SESSION_VERSION_KEY = "admin_session_version"  # the user's session_version when this session logged in
LAST_SEEN_KEY = "admin_last_seen"  # POSIX seconds of the session's last request
STORE_GUARD = "store_guard"  # a hidden field in every form: the store the form was rendered for
Model = TypeVar("Model")


class AdminUser(UserMixin):
    """The logged-in user as Flask-Login sees it: a thin wrapper over the ORM row."""

    def __init__(self, user: User):
        self.user = user
        self.id = user.id
        self._roles: dict[int | None, str] = {}  # per store, read once per request

    @property
    def is_active(self) -> bool:  # an account switched off is logged out at its next request
        return bool(self.user.active)

    @property
    def email(self) -> str:
        return self.user.email

    @property
    def role(self) -> str:
        """The role in the current store (an invitation may give one person different roles in two stores)."""
        store = current_store()
        key = store.id if store is not None else None
        if key not in self._roles:
            self._roles[key] = users.role_in(self.user, key)
        return self._roles[key]

    def can(self, capability: str) -> bool:
        return capability in users.CAPABILITIES.get(self.role, frozenset())


@login_manager.user_loader
def _load_user(user_id: str) -> AdminUser | None:
    """The session's user, if the account is active and the session neither ended nor sat idle too long."""
    user = db.session.get(User, int(user_id)) if user_id and user_id.isdigit() else None
    if user is None or not user.active:
        return None
    max_idle = timedelta(hours=current_app.config["ADMIN_SESSION_HOURS"])
    if not users.session_is_current(user, session.get(SESSION_VERSION_KEY), session.get(LAST_SEEN_KEY), max_idle):
        session.clear()  # a revoked or expired session keeps nothing (store choice, CSRF token) for the next login
        return None
    session[LAST_SEEN_KEY] = clock.now().timestamp()
    return AdminUser(user)


def log_in(user: User) -> None:
    """Start a fresh session for ``user``: nothing from before the login carries over (no session fixation)."""
    session.clear()
    login_user(AdminUser(user))
    session[SESSION_VERSION_KEY] = user.session_version
    session[LAST_SEEN_KEY] = clock.now().timestamp()


def can(capability: str) -> bool:
    return bool(current_user.is_authenticated and current_user.can(capability))


def visible_stores() -> list[Store]:
    if "admin_visible_stores" not in g:
        g.admin_visible_stores = users.visible_stores(current_user.user) if current_user.is_authenticated else []
    return g.admin_visible_stores


def current_store() -> Store | None:
    """The store picked in the store switcher, if this user may still see it; else their first store."""
    if "admin_store" not in g:
        store = None
        if current_user.is_authenticated:
            stores = visible_stores()
            wanted = session.get(STORE_SESSION_KEY)
            store = next((s for s in stores if s.id == wanted), None) or (stores[0] if stores else None)
        g.admin_store = store
    return g.admin_store


def select_store(store_id: int | None) -> bool:
    """Make ``store_id`` the current store; False (and nothing changes) if this user may not see it."""
    if store_id is None or not current_user.is_authenticated or not users.may_see_store(current_user.user, store_id):
        return False
    session[STORE_SESSION_KEY] = store_id
    g.pop("admin_store", None)
    return True


def get_scoped_or_404(model: type[Model], object_id: int) -> Model:
    """The row with this id if it belongs to the current store; 404 otherwise (never a hint that it exists)."""
    store = current_store()
    row = db.session.get(model, object_id) if object_id <= MAX_ID else None  # PostgreSQL refuses a larger one
    if row is None or store is None or row.store_id != store.id:
        abort(404)
    return row


def safe_next(target: str | None, default: str) -> str:
    """A redirect target inside the admin only (no open redirect to another site)."""
    if target:
        try:
            parts = urlsplit(target)
        except ValueError:  # a full-width '＠' or '／' in what would be the host: not ours
            return default
        if not parts.scheme and not parts.netloc and target.startswith("/admin") and "\\" not in target:
            return target
    return default


def requires(capability: str) -> Callable:
    """An action that needs more than the view does (e.g. a marketer may read customers but not erase them)."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def checked(self, *args: Any, **kwargs: Any):
            if not can(capability):
                abort(403)
            return view(self, *args, **kwargs)

        return checked

    return decorate


class SecuredMixin:
    """Login required; ``capability`` for the whole view; a store to work in."""

    capability = users.READ
    public_views: frozenset[str] = frozenset()  # view functions reachable without logging in
    storeless_views: frozenset[str] = frozenset()  # view functions that work with no store picked

    def is_accessible(self) -> bool:
        return can(self.capability)

    def inaccessible_callback(self, name: str, **kwargs: Any):
        if not current_user.is_authenticated:
            return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
        abort(403)

    def _handle_view(self, name: str, **kwargs: Any):
        if name in self.public_views:  # the login page answers hostile input itself, with the login page
            return None
        refused = super()._handle_view(name, **kwargs)
        if refused is not None:
            return refused
        forms.refuse_unstorable_input()
        store = current_store()
        if name not in self.storeless_views and store is None:
            return self.render("retainful_admin/no_store.html"), 200
        guard = request.form.get(STORE_GUARD) if request.method == "POST" else None
        if guard and store is not None and guard != str(store.id):
            # The form was rendered for another store (switched in another tab since): refuse rather than apply it
            # to the store that happens to be current now.
            if request.headers.get("X-Requested-With") == "fetch":
                message = _("The store was switched in another tab: reload the page.")
                return jsonify(error={"field": STORE_GUARD, "message": message}), 409
            return error_pages.render(409, template="retainful_admin/store_changed.html")
        return None
