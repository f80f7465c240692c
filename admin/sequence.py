"""The abandoned-cart sequence: every role reads it, owners and admins change a step (delay, channels, on/off,
coupon rule). ``automations.update_step`` keeps the steps in delay order and refuses what does not fit."""
from __future__ import annotations

from datetime import timedelta

from flask import flash, redirect, request, url_for
from flask_admin import BaseView, expose

from admin import forms
from admin.security import SecuredMixin, current_store, requires
from retainful import automations, users
from retainful.automations.abandoned_cart import ABANDONED
from retainful.errors import FieldError
from retainful.extensions import db
from retainful.models import DiscountType

DELAY_UNITS = {"minutes": 1, "hours": 60, "days": 1440}


def split_delay(minutes: int) -> tuple[int, str]:
    """The largest unit that divides the delay exactly: 120 -> (2, "hours")."""
    for unit in ("days", "hours"):
        if minutes % DELAY_UNITS[unit] == 0:
            return minutes // DELAY_UNITS[unit], unit
    return minutes, "minutes"


def _delay(form) -> timedelta | None:
    value = forms.integer(form, "delay_value", "Delay", required=False)
    if value is None:
        return None
    unit = form.get("delay_unit", "minutes")
    if unit not in DELAY_UNITS:
        raise FieldError("delay_unit", "Delay unit: minutes, hours or days.")
    minutes = value * DELAY_UNITS[unit]
    if not 1 <= minutes <= ABANDONED.max_delay // timedelta(minutes=1):  # checked before timedelta() can overflow
        raise FieldError("delay_value", "Delay: between 1 minute and 60 days.")
    return timedelta(minutes=minutes)


class SequenceView(SecuredMixin, BaseView):
    def _page(self, error: FieldError | None = None, error_position: int | None = None, status: int = 200):
        sequence = automations.settings_for(current_store().id, ABANDONED.kind)
        return self.render("retainful_admin/sequence.html", sequence=sequence, steps=sequence.steps if sequence
                           else [], error=error, error_position=error_position, split_delay=split_delay,
                           units=tuple(DELAY_UNITS), discount_types=DiscountType.ALL), status

    @expose("/")
    def index(self):
        return self._page()

    @expose("/step/<int:position>", methods=("POST",))
    @requires(users.MANAGE)
    def update(self, position: int):
        form = request.form
        try:
            coupon_type = form.get("coupon_type") or None
            if coupon_type is not None and coupon_type not in DiscountType.ALL:
                raise FieldError("coupon_type", "One of percent, fixed, free_shipping.")
            automations.update_step(
                current_store(), position, delay=_delay(form), email=forms.flag(form, "email"),
                sms=forms.flag(form, "sms"), enabled=forms.flag(form, "enabled"), coupon_type=coupon_type,
                coupon_amount=forms.amount(form, "coupon_amount", "Coupon amount") if coupon_type else None,
                coupon_minimum=forms.amount(form, "coupon_minimum", "Coupon minimum") if coupon_type else None,
                coupon_valid_hours=forms.integer(form, "coupon_valid_hours", "Valid for (hours)", required=False)
                if coupon_type else None,
                remove_coupon=coupon_type is None)
        except FieldError as error:
            db.session.rollback()  # update_step may have changed the step before it refused
            return self._page(error, position, 400)
        flash(f"Step {position} saved.", "success")
        return redirect(url_for(".index"))

    @expose("/step/<int:position>/toggle", methods=("POST",))
    @requires(users.MANAGE)
    def toggle(self, position: int):
        enabled = forms.flag(request.form, "enabled")
        try:
            automations.update_step(current_store(), position, enabled=enabled)
        except FieldError as error:
            db.session.rollback()
            return self._page(error, position, 400)
        flash(f"Step {position} switched {'on' if enabled else 'off'}.", "success")
        return redirect(url_for(".index"))
