"""The admin's home: the dashboard, logging in and out, and the store switcher."""
from __future__ import annotations

from flask import flash, redirect, request, session, url_for
from flask_admin import AdminIndexView, expose
from flask_login import current_user, login_user, logout_user

from admin.charts import ABANDONED_VS_RECOVERED, daily_chart
from admin.security import AdminUser, SecuredMixin, current_store, safe_next, select_store
from retainful import reports, users


class HomeView(SecuredMixin, AdminIndexView):
    public_views = frozenset({"login", "logout"})
    storeless_views = frozenset({"switch_store"})

    def __init__(self) -> None:
        super().__init__(name="Dashboard", endpoint="admin", url="/admin")

    @expose("/")
    def index(self):
        store = current_store()
        period = reports.resolve_period(store, days=30)
        daily = reports.daily(store, period)
        chart = daily_chart(daily, ABANDONED_VS_RECOVERED, chart_id="daily-chart", y_label="Carts",
                            title=f"Abandoned vs recovered carts per day, {period.start_date} to {period.end_date}")
        return self.render("retainful_admin/dashboard.html", store=store, period=period,
                           summary=reports.summary(store, period), chart=chart,
                           before_after=reports.before_after(store, days=30))

    @expose("/login", methods=("GET", "POST"))
    def login(self):
        target = safe_next(request.values.get("next"), url_for("admin.index"))
        if request.method == "GET" and current_user.is_authenticated:
            return redirect(target)
        email, error, status = "", None, 200
        if request.method == "POST":
            email = request.form.get("email", "")
            try:
                user = users.authenticate(email, request.form.get("password", ""))
            except users.LoginThrottled as throttled:
                error, status = (f"Too many failed attempts for this account. Try again in {throttled.minutes} "
                                 f"minute{'s' if throttled.minutes != 1 else ''}."), 429
            else:
                if user is None:
                    error, status = "Wrong email or password.", 401
                else:
                    session.clear()  # a fresh session: nothing from before the login carries over
                    login_user(AdminUser(user))
                    return redirect(target)
        return self.render("retainful_admin/login.html", email=email, error=error, next=target), status

    @expose("/logout", methods=("POST",))
    def logout(self):
        logout_user()
        session.clear()
        flash("You are logged out.", "info")
        return redirect(url_for("admin.login"))

    @expose("/store", methods=("POST",))
    def switch_store(self):
        store_id = request.form.get("store_id", type=int)
        if not select_store(store_id):
            flash("That store is not one of yours.", "error")
        return redirect(safe_next(request.form.get("next"), url_for("admin.index")))
