"""The admin panel at /admin (Flask-Admin 2, Bootstrap 4 served from Flask-Admin's own static files: works offline).

``init_admin(app)`` wires logins (Flask-Login), CSRF protection for every form (Flask-WTF), and the views. The views
are thin: they read the request, call one domain function, and render. See ``retainful_admin.security`` for the rules
every view follows (login, role capability, current-store scoping with 404 for foreign ids).
"""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Flask, request
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError

from retainful.stores import settings as store_settings
from retainful_admin import error_pages, formatting, i18n
from retainful_admin.security import can, csrf, current_store, login_manager, visible_stores

# Blueprints that take no browser forms: the storefront API (bearer key, JSON, signed webhooks), the shopper-facing
# pages (signed unsubscribe tokens, RFC 8058 one-click POSTs from mail providers) and the health check.
CSRF_EXEMPT_BLUEPRINTS = ("api", "public", "health", "retainful_plugin")
MORE = _l("More")  # the navbar's menu of secondary pages (the name follows the reader's language)


def _page_args(**extra):
    args = {key: value for key, value in request.args.items() if key != "page" and value}
    args.update(extra)
    return args


def _merge(attrs: dict, more: dict) -> dict:
    """The form field macro's attributes: ``more`` over ``attrs`` (a None value leaves an attribute out)."""
    return {**attrs, **more}


def init_admin(app: Flask) -> Admin:
    """Call after the other blueprints are registered (their CSRF exemptions are looked up by name)."""
    from retainful_admin.automations import AutomationsView
    from retainful_admin.experiments import ExperimentsView
    from retainful_admin.campaigns import CampaignsView
    from retainful_admin.editor import TemplatesView
    from retainful_admin.home import HomeView
    from retainful_admin.inbox import InboxView
    from retainful_admin.people import AccountView, PeopleView
    from retainful_admin.products import ProductsView
    from retainful_admin.records import CartsView, CouponsView, CustomersView, MessagesView, OrdersView
    from retainful_admin.report_pages import ReportsView
    from retainful_admin.sequence import SequenceView
    from retainful_admin.settings import SettingsView

    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # the token lives as long as the session
    # The cookie's signature expires too (the server also checks the session's last-seen time: see security.py).
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=app.config["ADMIN_SESSION_HOURS"])
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:  # Flask's default: no SameSite attribute at all
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    if app.config.get("RETAINFUL_ENV") == "production" and app.config.get("PUBLIC_BASE_URL", "").startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True  # the login cookie never travels over plain HTTP

    i18n.init_app(app)  # the admin's words in the user's language (Flask-Babel)
    csrf.init_app(app)
    for name in CSRF_EXEMPT_BLUEPRINTS:
        if name in app.blueprints:
            csrf.exempt(app.blueprints[name])

    @app.errorhandler(CSRFError)
    def _csrf_refused(error: CSRFError):
        """A form sent without a valid token (a forged request, or a page left open across a logout)."""
        return error_pages.csrf_refused(error.description)

    error_pages.register(app)

    login_manager.init_app(app)
    login_manager.login_view = "admin.login"
    login_manager.session_protection = "basic"

    app.register_blueprint(Blueprint("retainful_admin", __name__, template_folder="templates",
                                     static_folder="static", static_url_path="/admin/assets"))
    formatting.register(app)
    app.jinja_env.globals.update(rt_can=can, rt_current_store=current_store, rt_visible_stores=visible_stores,
                                 rt_page_args=_page_args, rt_setting=store_settings.SETTINGS.__getitem__,
                                 rt_field_label=store_settings.label)
    app.jinja_env.filters["rt_merge"] = _merge

    admin = Admin(app, name="Retainful", index_view=HomeView(),
                  theme=Bootstrap4Theme(base_template="retainful_admin/base.html", swatch="default", fluid=True))
    admin.add_view(InboxView(name=_l("Inbox"), endpoint="inbox"))
    admin.add_view(CartsView(name=_l("Carts"), endpoint="carts"))
    admin.add_view(CustomersView(name=_l("Customers"), endpoint="customers"))
    admin.add_view(MessagesView(name=_l("Messages"), endpoint="messages"))
    admin.add_view(AutomationsView(name=_l("Automations"), endpoint="automations"))
    admin.add_view(TemplatesView(name=_l("Templates"), endpoint="templates"))
    admin.add_view(ReportsView(name=_l("Reports"), endpoint="reports"))
    # The navbar is one row at 1366 px: pages used less often go into the "More" menu (admin/README.md, Conventions).
    admin.add_view(OrdersView(name=_l("Orders"), endpoint="orders", category=MORE))
    admin.add_view(ProductsView(name=_l("Products"), endpoint="products", category=MORE))
    admin.add_view(CouponsView(name=_l("Coupons"), endpoint="coupons", category=MORE))
    admin.add_view(CampaignsView(name=_l("Campaigns"), endpoint="campaigns", category=MORE))
    admin.add_view(SequenceView(name=_l("Sequence"), endpoint="sequence", category=MORE))
    admin.add_view(ExperimentsView(name=_l("Experiments"), endpoint="experiments", category=MORE))
    admin.add_view(SettingsView(name=_l("Settings"), endpoint="settings", category=MORE))
    admin.add_view(PeopleView(name=_l("People"), endpoint="people", category=MORE))
    admin.add_view(AccountView(name=_l("Account"), endpoint="account", url="/admin/account"))
    return admin
