"""The admin's home: the dashboard, logging in and out, the store switcher, and the pages of emailed links."""
from __future__ import annotations

from flask import flash, redirect, request, session, url_for
from flask_admin import AdminIndexView, expose
from flask_babel import gettext as _, lazy_gettext as _l, ngettext
from flask_login import current_user, logout_user

from retainful_admin import charts
from retainful_admin.people import EmailedLinkPages
from retainful_admin.security import SecuredMixin, can, current_store, log_in, safe_next, select_store
from retainful_admin.settings import provider_status
from retainful import reports, users
from retainful.errors import FieldError
from retainful.stores import checklist

# Each checklist item: what to do, and where (endpoint, URL fragment).
CHECKLIST_STEPS = {
    "store_connected": (_l("Connect your store: install the Retainful plugin (or send a first cart to the API)"),
                        "settings.index", "retainful-plugin"),
    "sender_set": (_l("Set the sender address and the postal address shown in every email"), "settings.index",
                   "settings-form"),
    "test_send": (_l("Send yourself a test message from a template"), "templates.index", None),
    "sequence_reviewed": (_l("Review the abandoned-cart sequence and confirm it"), "sequence.index",
                          "sequence-review"),
    "automations_chosen": (_l("Choose your automations (switch them on or off, or confirm the defaults)"),
                           "automations.index", "automations-confirm"),
}


class HomeView(SecuredMixin, EmailedLinkPages, AdminIndexView):
    # The language form works for every logged-in role (an agent has no dashboard), so it checks the login itself.
    public_views = frozenset({"login", "logout", "language"}) | EmailedLinkPages.PUBLIC
    storeless_views = frozenset({"switch_store"})

    def __init__(self) -> None:
        super().__init__(name=_l("Dashboard"), endpoint="admin", url="/admin")

    def inaccessible_callback(self, name: str, **kwargs):
        """An agent's home is the inbox (the only page it may use)."""
        if name == "index" and can(users.CONVERSE):
            return redirect(url_for("inbox.index"))
        return super().inaccessible_callback(name, **kwargs)

    @expose("/")
    def index(self):
        store = current_store()
        period = reports.resolve_period(store, days=30)
        before_after = reports.before_after(store, days=30)
        chart = charts.chart("daily-chart", _("Abandoned vs recovered carts per day, %(start)s to %(end)s",
                                              start=period.start_date, end=period.end_date),
                             reports.daily(store, period), charts.ABANDONED_VS_RECOVERED, store)
        return self.render("retainful_admin/dashboard.html", store=store, period=period,
                           summary=reports.summary(store, period), chart=chart, checklist=checklist.items(store),
                           checklist_steps=CHECKLIST_STEPS, before_after=before_after,
                           before_after_chart=charts.before_after_chart(before_after, store),
                           disabled_channels=provider_status().get("disabled", {}))

    @expose("/login", methods=("GET", "POST"))
    def login(self):
        target = safe_next(request.values.get("next"), url_for("admin.index"))
        if request.method == "GET" and current_user.is_authenticated:
            return redirect(target)
        email, error, status, headers = "", None, 200, {}
        if request.method == "POST":
            email = request.form.get("email", "")
            try:
                user = users.authenticate(email, request.form.get("password", ""), request.remote_addr)
            except users.LoginThrottled as throttled:
                # The same words for every account, known or not, and for a busy address.
                error, status = _("Too many failed attempts. Try again in %(wait)s.", wait=wait_words(throttled.seconds)), 429
                headers["Retry-After"] = str(throttled.seconds)
            else:
                if user is None:
                    error, status = _("Wrong email or password."), 401
                else:
                    log_in(user)
                    return redirect(target)
        return self.render("retainful_admin/login.html", email=email, error=error, next=target), status, headers

    @expose("/logout", methods=("POST",))
    def logout(self):
        if current_user.is_authenticated:
            users.end_sessions(current_user.user)  # a copy of this cookie stops working too
        logout_user()
        session.clear()
        flash(_("You are logged out."), "info")
        return redirect(url_for("admin.login"))

    @expose("/language", methods=("POST",))
    def language(self):
        """The user's language ("en", "ko"), or blank to follow the browser; then back to the page they were on."""
        if not current_user.is_authenticated:
            return redirect(url_for("admin.login"))
        try:
            users.set_locale(current_user.user, request.form.get("locale") or None)
        except users.UserError:
            raise FieldError("locale", _("Choose one of: %(languages)s.",
                                         languages=", ".join(users.LANGUAGES.values()))) from None
        return redirect(safe_next(request.form.get("next"), url_for("admin.index")))

    @expose("/store", methods=("POST",))
    def switch_store(self):
        store_id = request.form.get("store_id", type=int)
        if not select_store(store_id):
            flash(_("That store is not one of yours."), "error")
        return redirect(safe_next(request.form.get("next"), url_for("admin.index")))


def wait_words(seconds: int) -> str:
    """'8 seconds', '2 minutes': how long the person must wait, in words."""
    if seconds < 60:
        return ngettext("%(num)d second", "%(num)d seconds", seconds)
    return ngettext("%(num)d minute", "%(num)d minutes", -(-seconds // 60))
