"""Store settings (owners and admins only): recovery timing and limits, senders, the holdout share, the next-order
coupon rule, the WooCommerce connection, both shop connections' last real result and Test, API key rotation (the new
key is shown once) and the providers' status."""
from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from flask import current_app, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _

from retainful_admin import forms
from retainful_admin.i18n import label, word
from retainful_admin.security import SecuredMixin, current_store
from retainful import connections, stores, users
from retainful.channels import CHANNELS
from retainful.customers import normalise_email
from retainful.errors import FieldError
from retainful.extensions import db
from retainful.messaging.dispatch import providers_for
from retainful.messaging.providers import DISABLED, ProviderConfigError
from retainful.models import DiscountType
from retainful.orders import woocommerce
from retainful.plugin import history
from retainful.stores import options, settings
from retainful.urls import public_urls

GENERAL_NUMBERS = ("abandon_after_minutes", "retention_days", "customer_retention_days", "quiet_hours_start",
                   "quiet_hours_end", "email_cap_hours", "sms_cap_hours")
GENERAL_TEXTS = ("name", "sender_name", "sender_email", "sms_sender", "postal_address")
NEXT_ORDER_FIELDS = ("next_order_enabled", "next_order_statuses", "next_order_type", "next_order_amount",
                     "next_order_minimum", "next_order_valid_days", "next_order_first_only",
                     "next_order_allow_chained")
FLAGS = {
    "general": ("paused",),
    "next_order": ("next_order_enabled", "next_order_first_only", "next_order_allow_chained"),
}
PERSONA_TEXTS = ("persona_name", "persona_signature")
VALUE_FIELDS = (*GENERAL_NUMBERS, *GENERAL_TEXTS, "timezone", "paused", "holdout_percent", *NEXT_ORDER_FIELDS,
                "woo_url", "woo_consumer_key", *PERSONA_TEXTS)


def provider_status() -> dict[str, Any]:
    """Which providers send: "sandbox" (recorded, nothing leaves the machine), "disabled" (production without the
    channel's credentials: its messages are skipped) or a live provider's name. The dashboard shows disabled ones."""
    try:
        providers = providers_for(current_app._get_current_object())
    except ProviderConfigError as error:
        return {"error": str(error)}
    status: dict[str, Any] = {"disabled": {}}
    for medium in CHANNELS.values():
        provider = medium.provider(providers)
        status[medium.name] = provider.name
        status[f"{medium.name}_live"] = provider.name not in ("sandbox", DISABLED)
        if provider.name == DISABLED:
            status["disabled"][medium.name] = provider.remedy
    return status


def field_errors(errors: dict[str, Any] | Exception) -> dict[str, str]:
    """Errors by field as sentences in the reader's language for the form: from StoreSettingsError (every bad field),
    a FieldError, or a dict of either reasons or FieldErrors."""
    if isinstance(errors, stores.StoreSettingsError):
        errors = errors.errors
    elif isinstance(errors, Exception):
        errors = {getattr(errors, "field", "form"): errors}
    found = {}
    for name, error in errors.items():
        reason = getattr(error, "reason", None) or getattr(error, "message", None) or error
        found[name] = forms.sentence(word(reason))
    return found


def _read(refused: dict[str, FieldError], parse, form, name: str):
    """``parse(form, name)``, or None with the error kept in ``refused`` (so every field's error shows at once)."""
    try:
        return parse(form, name)
    except FieldError as error:
        refused[name] = error
        return None


class SettingsView(SecuredMixin, BaseView):
    capability = users.MANAGE

    def _page(self, *, section: str | None = None, errors: dict[str, str] | None = None,
              new_api_key: str | None = None, status: int = 200):
        store = current_store()
        values = {name: getattr(store, name) for name in VALUE_FIELDS}
        if section is not None:  # the form that failed shows what was typed, not what is stored
            values.update({name: value for name, value in request.form.items() if name in values})
            for name in FLAGS.get(section, ()):
                values[name] = forms.flag(request.form, name)
        headers = {"Cache-Control": "no-store"}  # the page shows the Retainful plugin's Secret Key, and new API keys
        return self.render(
            "retainful_admin/settings.html", store=store, values=values, section=section, errors=errors or {},
            new_api_key=new_api_key, providers=provider_status(), numbers=GENERAL_NUMBERS,
            timezone_choices=[(tz, tz) for tz in sorted(available_timezones())],
            discount_choices=[(t, label(t)) for t in DiscountType.ALL],
            webhook_url=public_urls(current_app).woocommerce_webhook(store.id),
            woo_health=connections.health(store, connections.WOOCOMMERCE),
            plugin_health=connections.health(store, connections.PLUGIN),
        ), status, headers

    def _refused(self, section: str, errors: dict[str, str] | Exception):
        """The form again with what was typed and every error at its field, in words."""
        db.session.rollback()
        return self._page(section=section, errors=field_errors(errors), status=400)

    @expose("/")
    def index(self):
        return self._page()

    @expose("/general", methods=("POST",))
    def save_general(self):
        form = request.form
        refused: dict[str, FieldError] = {}
        values: dict[str, Any] = {name: _read(refused, forms.integer, form, name) for name in GENERAL_NUMBERS}
        values.update({name: forms.text(form, name) for name in GENERAL_TEXTS})
        if values["name"] is None:
            refused["name"] = forms.FormFieldError("name", None, "required.")
        if values["sender_email"]:
            values["sender_email"] = _read(refused, lambda f, n: normalise_email(f[n]), form, "sender_email")
        values["timezone"] = forms.text(form, "timezone") or current_store().timezone
        values["paused"] = forms.flag(form, "paused")
        # Every field at once: the ones that did not parse, and the table's rules for the others.
        errors = {**settings.errors({n: v for n, v in values.items() if n not in refused}), **refused}
        if errors:
            return self._refused("general", errors)
        try:
            stores.update_settings(current_store(), **values)
        except stores.StoreSettingsError as error:
            return self._refused("general", error)
        flash(_("Settings saved."), "success")
        return redirect(url_for(".index"))

    @expose("/holdout", methods=("POST",))
    def save_holdout(self):
        try:
            options.set_holdout(current_store(), forms.integer(request.form, "holdout_percent"))
        except (FieldError, stores.StoreSettingsError) as error:
            return self._refused("holdout", error)
        flash(_("Holdout share saved."), "success")
        return redirect(url_for(".index"))

    @expose("/persona", methods=("POST",))
    def save_persona(self):
        try:
            stores.update_settings(current_store(), **{name: forms.text(request.form, name) for name in PERSONA_TEXTS})
        except stores.StoreSettingsError as error:
            return self._refused("persona", error)
        flash(_("Persona saved."), "success")
        return redirect(url_for(".index"))

    @expose("/next-order", methods=("POST",))
    def save_next_order(self):
        form = request.form
        refused: dict[str, FieldError] = {}
        numbers = {"amount": _read(refused, forms.amount, form, "next_order_amount"),
                   "minimum": _read(refused, forms.amount, form, "next_order_minimum"),
                   "valid_days": _read(refused, forms.integer, form, "next_order_valid_days")}
        if refused:
            return self._refused("next_order", refused)
        try:
            options.update_next_order_rule(
                current_store(), enabled=forms.flag(form, "next_order_enabled"),
                statuses=form.get("next_order_statuses", ""), discount_type=form.get("next_order_type", ""),
                first_only=forms.flag(form, "next_order_first_only"),
                allow_chained=forms.flag(form, "next_order_allow_chained"), **numbers)
        except stores.StoreSettingsError as error:
            return self._refused("next_order", error)
        flash(_("Next-order coupon rule saved."), "success")
        return redirect(url_for(".index"))

    @expose("/woocommerce", methods=("POST",))
    def save_woocommerce(self):
        form = request.form
        try:
            options.connect_woocommerce(current_store(), form.get("woo_url", ""), form.get("woo_consumer_key", ""),
                                        form.get("woo_consumer_secret") or None)
        except stores.StoreSettingsError as error:
            return self._refused("woocommerce", error)
        flash(_("WooCommerce connection saved."), "success")
        return redirect(url_for(".index"))

    @expose("/woocommerce/disconnect", methods=("POST",))
    def disconnect_woocommerce(self):
        options.disconnect_woocommerce(current_store())
        flash(_("WooCommerce disconnected."), "success")
        return redirect(url_for(".index"))

    @expose("/rotate-key", methods=("POST",))
    def rotate_key(self):
        api_key = stores.rotate_key(current_store())
        # Shown in this response only: it is stored as a hash, and the page is not cached.
        return self._page(new_api_key=api_key)

    @expose("/woocommerce/test", methods=("POST",))
    def test_woocommerce(self):
        store = current_store()
        if not store.woo_connected:
            return self._page(section="woocommerce", status=400,
                              errors={"woo_url": _("Save the shop address and keys first, then test them.")})
        return _tested(woocommerce.check_connection(store), _("WooCommerce"))

    @expose("/retainful/test", methods=("POST",))
    def test_plugin(self):
        return _tested(history.check_connection(current_store()), _("The Retainful plugin"))


def _tested(failure: str | None, name: str):
    """The Test's answer, as a message on the settings page (the badge shows it too). The reason is stored text, in
    English (connections.py), like the coupons' sync statuses."""
    if failure is None:
        flash(_("%(name)s connection works: the shop answered.", name=name), "success")
    else:
        flash(_("%(name)s connection test failed: %(reason)s.", name=name, reason=failure), "error")
    return redirect(url_for(".index"))
