"""Campaigns in the admin: the list, the create form (its live recipient count comes from ``count.json``, asked by
static/campaigns.js as the segment fields change), a campaign's page with its results and chart, schedule and cancel.
Owners, admins and marketers manage them (``users.CAMPAIGNS``); every other reader sees them."""
from __future__ import annotations

from typing import Any, Mapping

from flask import abort, flash, jsonify, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user

from retainful_admin import forms
from retainful_admin.charts import Series, chart
from retainful_admin.i18n import label
from retainful_admin.security import SecuredMixin, current_store, get_scoped_or_404, requires
from retainful import users
from retainful.campaigns import service
from retainful.campaigns.automation import DEFAULT_TEMPLATE
from retainful.channels import names
from retainful.errors import FieldError
from retainful.extensions import db
from retainful.messaging.test_send import user_requester
from retainful.models import Campaign, DiscountType
from retainful.rendering.engine import template_keys

LIST_FILTERS = ("country", "locale")
RANGES = ("order_count", "total_spent")


def _words(form: Mapping[str, str], name: str) -> list[str] | None:
    """A box of comma- or space-separated codes ("KR, DE"); blank is no filter."""
    words = [word for word in (form.get(name) or "").replace(",", " ").split() if word]
    return words or None


def segment_from(form: Mapping[str, str]) -> dict[str, Any]:
    """The segment fields of the form as the API's JSON (blank fields are no filter)."""
    raw: dict[str, Any] = {}
    for name in ("last_order_before", "last_order_after"):
        if forms.text(form, name):
            raw[name] = forms.text(form, name)
    for name in RANGES:
        bounds = {}
        for end in ("min", "max"):
            field = f"{name}_{end}"
            value = forms.integer(form, field, required=False) if name == "order_count" else forms.text(form, field)
            if value is not None:
                bounds[end] = value
        if bounds:
            raw[name] = bounds
    days = forms.integer(form, "abandoned_cart_within_days", required=False)
    if days is not None:
        raw["abandoned_cart_within_days"] = days
    for name in LIST_FILTERS:
        if _words(form, name):
            raw[name] = _words(form, name)
    return raw


def campaign_from(form: Mapping[str, str]) -> dict[str, Any]:
    """The whole create form as the API's JSON."""
    channels = [name for name in names() if forms.flag(form, f"channel_{name}")]
    coupon_type = forms.text(form, "coupon_type")
    coupon = None if coupon_type is None else {
        "type": coupon_type, "amount": forms.text(form, "coupon_amount"),
        "valid_hours": forms.integer(form, "coupon_valid_hours", required=False) or 48}
    return {"name": form.get("name", ""), "channels": channels, "segment": segment_from(form), "coupon": coupon,
            "templates": {name: {"key": form[f"template_{name}"]} for name in channels
                          if form.get(f"template_{name}")},
            "send_at": forms.text(form, "send_at"), "local_time": forms.flag(form, "local_time"),
            "frequency_cap": forms.flag(form, "frequency_cap")}


FUNNEL = (("recipient_count", _l("Recipients")), ("sent", _l("Sent")), ("opened", _l("Opened")),
          ("clicked", _l("Clicked")), ("orders_credited", _l("Orders")), ("unsubscribes", _l("Unsubscribed")))
FIGURES = (FUNNEL[0], ("scheduled", _l("Not sent yet")), *FUNNEL[1:])
def form_field(path: str) -> str:
    """The create form's field of a FieldError's dotted path: segment.country.0 -> country, segment.order_count.min ->
    order_count_min, coupon.amount -> coupon_amount, templates.email.key -> template_email."""
    parts = [part for part in path.split(".") if not part.isdigit()]
    head = parts[0]
    if head == "templates":
        return f"template_{parts[1] if len(parts) > 1 else names()[0]}"
    if head == "segment":
        return "_".join(parts[1:3]) or "country"
    if head == "coupon":
        return "_".join(parts[:2])
    if head == "channels":
        return f"channel_{names()[0]}"
    return head


def results_chart(results: dict[str, Any], store) -> dict[str, Any]:
    """The campaign's funnel as one bar per stage: recipients, sent, opened, clicked, orders, unsubscribes."""
    rows = [{"stage": str(label), "count": int(results[key])} for key, label in FUNNEL]
    return chart("campaign-chart", _("Results"), rows, (Series("count", _l("Customers or messages"), "#007bff"),),
                 store, label=lambda row: row["stage"], x_title=_("Stage"))


class CampaignsView(SecuredMixin, BaseView):
    def _campaign(self, campaign_id: int) -> Campaign:
        return get_scoped_or_404(Campaign, campaign_id)

    @expose("/")
    def index(self):
        return self.render("retainful_admin/campaigns.html", campaigns=[
            service.describe(c) for c in service.listing(current_store(), limit=200)])

    def _form(self, errors: dict[str, str] | None = None, status: int = 200):
        values = request.form if request.method == "POST" else {"channel_email": "1"}
        return self.render("retainful_admin/campaign_new.html", errors=errors or {}, values=values,
                           channels=names(), default_template=DEFAULT_TEMPLATE,
                           templates={name: [(key, key) for key in template_keys(name)] for name in names()},
                           discount_choices=[(kind, label(kind)) for kind in DiscountType.ALL]), status

    @expose("/new")
    @requires(users.CAMPAIGNS)
    def new(self):
        return self._form()

    @expose("/new", methods=("POST",))
    @requires(users.CAMPAIGNS)
    def create(self):
        try:
            campaign = service.create(current_store(), service.parse(campaign_from(request.form)),
                                      author=user_requester(current_user.id))
        except FieldError as error:
            db.session.rollback()
            return self._form({form_field(error.field): forms.field_message(error)}, 400)
        flash(_("Campaign scheduled.") if campaign.send_at else _("Campaign saved as a draft."), "success")
        return redirect(url_for(".detail", campaign_id=campaign.id))

    @expose("/count.json")
    @requires(users.CAMPAIGNS)
    def count(self):
        """The live recipient count of the create form's segment and channels. A field that does not parse yet is
        what typing looks like, so it is answered (200) with the error instead of a count."""
        channels = [name for name in names() if forms.flag(request.args, f"channel_{name}")]
        if not channels:
            return jsonify(count=0)
        try:
            found = service.preview(current_store(), segment_from(request.args), channels)
        except FieldError as error:
            return jsonify(count=None, error={"field": error.field, "message": forms.field_message(error)})
        return jsonify(count=found["count"])

    @expose("/<int:campaign_id>")
    def detail(self, campaign_id: int, error: FieldError | None = None, status: int = 200):
        campaign = self._campaign(campaign_id)
        results = service.results(campaign)
        return self.render("retainful_admin/campaign.html", campaign=campaign, results=results, figures=FIGURES,
                           chart=results_chart(results, current_store()),
                           errors={error.field: forms.field_message(error)} if error else {}), status

    @expose("/<int:campaign_id>/schedule", methods=("POST",))
    @requires(users.CAMPAIGNS)
    def schedule(self, campaign_id: int):
        campaign = self._campaign(campaign_id)
        try:
            data = service.parse({"name": campaign.name, "channels": campaign.channels,
                                  "send_at": forms.text(request.form, "send_at"),
                                  "local_time": forms.flag(request.form, "local_time")})
            if data["send_at"] is None:
                raise FieldError("send_at", _("Required."))
            service.schedule(campaign, data["send_at"], data["local_time"])
        except FieldError as error:
            db.session.rollback()
            return self.detail(campaign_id, error, 400)
        db.session.commit()
        flash(_("Campaign scheduled."), "success")
        return redirect(url_for(".detail", campaign_id=campaign_id))

    @expose("/<int:campaign_id>/cancel", methods=("POST",))
    @requires(users.CAMPAIGNS)
    def cancel(self, campaign_id: int):
        cancelled = service.cancel(self._campaign(campaign_id))
        if cancelled is None:
            abort(409)
        flash(_("Campaign cancelled: %(count)d messages will not be sent.", count=cancelled), "success")
        return redirect(url_for(".detail", campaign_id=campaign_id))
