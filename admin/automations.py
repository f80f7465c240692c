"""The Automations page (each automation: on or off, its steps, its templates, the last 30 days' figures) and one
page per automation to change its steps; the abandoned-cart automation's page is the Sequence page
(``admin/sequence.py``), with the same forms. ``automations.update_step`` keeps the steps in delay order."""
from __future__ import annotations

from datetime import timedelta

from flask import abort, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _

from retainful_admin import charts, forms
from retainful_admin.i18n import delay_words, word
from retainful_admin.security import SecuredMixin, current_store, requires
from retainful import automations, reports, users
from retainful.automations import registry
from retainful.errors import FieldError
from retainful.extensions import db
from retainful.models import ABANDONED_CART, DiscountType
from retainful.stores import checklist

DELAY_UNITS = {"minutes": 1, "hours": 60, "days": 1440}


def split_delay(minutes: int) -> tuple[int, str]:
    """The largest unit that divides the delay exactly: 120 -> (2, "hours")."""
    for unit in ("days", "hours"):
        if minutes and minutes % DELAY_UNITS[unit] == 0:
            return minutes // DELAY_UNITS[unit], unit
    return minutes, "minutes"


def _delay(form, kind: str) -> timedelta | None:
    value = forms.integer(form, "delay_value", _("Delay"), required=False)
    if value is None:
        return None
    unit = form.get("delay_unit", "minutes")
    if unit not in DELAY_UNITS:
        raise FieldError("delay_unit", _("Delay unit: minutes, hours or days."))
    automation = registry.get(kind)
    low, high = (automation.min_delay // timedelta(minutes=1), automation.max_delay // timedelta(minutes=1))
    minutes = value * DELAY_UNITS[unit]
    if not low <= minutes <= high:  # checked before timedelta() can overflow
        raise FieldError("delay_value", _("Delay: between %(low)s and %(high)s.",
                                          low=delay_words(*split_delay(low)), high=delay_words(*split_delay(high))))
    return timedelta(minutes=minutes)


def _at_hour(form) -> dict:
    """The local send hour: a box per step (blank: at the delay itself); absent from a form that has none."""
    if "at_hour" not in form:
        return {}
    hour = forms.integer(form, "at_hour", _("Local hour"), required=False)
    return {"at_hour": hour}


def steps_page(view: BaseView, kind: str, step_url, toggle_url, error: FieldError | None = None,
               error_position: int | None = None, status: int = 200):
    """One automation's steps with their forms; ``step_url``/``toggle_url`` give each step's form actions."""
    settings = automations.current_settings(current_store().id, kind)
    return view.render("retainful_admin/sequence.html", automation=registry.get(kind), sequence=settings,
                       steps=settings.steps, error=error, error_position=error_position, split_delay=split_delay,
                       units=tuple(DELAY_UNITS), discount_types=DiscountType.ALL, step_url=step_url,
                       toggle_url=toggle_url), status


def save_step(kind: str, position: int, back: str, page):
    """A step's form applied, then back to its page; a refusal re-renders ``page`` with the error (a 400)."""
    try:
        _update_step_from(request.form, kind, position)
    except FieldError as error:
        return page(error, position, 400)
    _reviewed(kind)
    flash(_("Step %(n)s saved.", n=position), "success")
    return redirect(back)


def toggle_step(kind: str, position: int, back: str, page):
    """A step switched on or off, then back to its page."""
    enabled = forms.flag(request.form, "enabled")
    try:
        automations.update_step(current_store(), position, kind=kind, enabled=enabled)
    except FieldError as error:
        db.session.rollback()
        return page(error, position, 400)
    _reviewed(kind)
    flash(_("Step %(n)s switched on.", n=position) if enabled else _("Step %(n)s switched off.", n=position),
          "success")
    return redirect(back)


def confirm(item: str, done: str):
    """A first-run checklist confirmation: stamped on the current store, then back to the page it was made on."""
    checklist.mark(current_store(), item)
    flash(done, "success")
    return redirect(url_for(".index"))


def _reviewed(kind: str) -> None:
    """A step of the abandoned-cart sequence changed: the owner has been through it (the dashboard's checklist)."""
    if kind == ABANDONED_CART:
        checklist.mark(current_store(), "sequence_reviewed")


def _update_step_from(form, kind: str, position: int) -> None:
    """A step's form applied, or a FieldError (the session rolled back: nothing half-changed is kept)."""
    try:
        coupon_type = form.get("coupon_type") or None
        if coupon_type is not None and coupon_type not in DiscountType.ALL:
            raise FieldError("coupon_type", _("One of percent, fixed, free_shipping."))
        automations.update_step(
            current_store(), position, kind=kind, delay=_delay(form, kind), email=forms.flag(form, "email"),
            sms=forms.flag(form, "sms"), enabled=forms.flag(form, "enabled"), coupon_type=coupon_type,
            coupon_amount=forms.amount(form, "coupon_amount", _("Coupon amount")) if coupon_type else None,
            coupon_minimum=forms.amount(form, "coupon_minimum", _("Coupon minimum")) if coupon_type else None,
            coupon_valid_hours=forms.integer(form, "coupon_valid_hours", _("Valid for (hours)"), required=False)
            if coupon_type else None,
            remove_coupon=coupon_type is None, **_at_hour(form))
    except FieldError:
        db.session.rollback()  # update_step may have changed the step before it refused
        raise


class AutomationsView(SecuredMixin, BaseView):
    def _kind(self, kind: str) -> str:
        if registry.get(kind) is None:
            abort(404)
        return kind

    @expose("/")
    def index(self):
        store = current_store()
        report = reports.automations_report(store, reports.resolve_period(store, None, None, 30))
        return self.render("retainful_admin/automations.html", automations=automations.describe_all(store),
                           figures={row["kind"]: row for row in report["automations"]}, currency=store.currency,
                           chart=charts.automations_chart(report, store, table_id="automations-table"))

    @expose("/<kind>/")
    def detail(self, kind: str):
        if self._kind(kind) == ABANDONED_CART:
            return redirect(url_for("sequence.index"))
        return self._page(kind)

    def _page(self, kind: str, error: FieldError | None = None, position: int | None = None, status: int = 200):
        return steps_page(self, kind, lambda p: url_for(".update", kind=kind, position=p),
                          lambda p: url_for(".toggle", kind=kind, position=p), error, position, status)

    @expose("/<kind>/switch", methods=("POST",))
    @requires(users.MANAGE)
    def switch(self, kind: str):
        enabled = forms.flag(request.form, "enabled")
        automations.set_enabled(current_store(), self._kind(kind), enabled)
        checklist.mark(current_store(), "automations_chosen")
        title = word(registry.get(kind).title)
        flash(_("%(automation)s switched on.", automation=title) if enabled
              else _("%(automation)s switched off.", automation=title), "success")
        return redirect(url_for(".index"))

    @expose("/chosen", methods=("POST",))
    @requires(users.MANAGE)
    def chosen(self):
        """The owner keeps the automations as they are (the dashboard's checklist)."""
        return confirm("automations_chosen", _("Automations confirmed."))

    @expose("/<kind>/step/<int:position>", methods=("POST",))
    @requires(users.MANAGE)
    def update(self, kind: str, position: int):
        return save_step(self._kind(kind), position, url_for(".detail", kind=kind),
                         lambda *error: self._page(kind, *error))

    @expose("/<kind>/step/<int:position>/toggle", methods=("POST",))
    @requires(users.MANAGE)
    def toggle(self, kind: str, position: int):
        return toggle_step(self._kind(kind), position, url_for(".detail", kind=kind),
                           lambda *error: self._page(kind, *error))
