"""Thin adapters for what shoppers click (a short link, an email's pixel, an unsubscribe link) and for what the
providers report (inbound SMS, email events)."""
from __future__ import annotations

import base64

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request

from retainful import customers
from retainful.extensions import db
from retainful.messaging import tracking
from retainful.messaging.webhooks import sendgrid, sendgrid_inbound, vonage
from retainful.models import Customer, Store
from retainful.rendering.links import read_unsubscribe_token

bp = Blueprint("public", __name__, template_folder="templates")

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store, max-age=0", "Referrer-Policy": "no-referrer",
            "X-Robots-Tag": "noindex"}


def _not_found():
    return render_template("public/not_found.html"), 404, NO_STORE


@bp.get("/r/<code>")
def recovery_link(code: str):
    destination = tracking.record_click(code)
    if destination is None:
        return _not_found()
    response = redirect(destination, code=302)
    response.headers.update(NO_STORE)
    return response


@bp.get("/o/<code>.gif")
def open_pixel(code: str):
    tracking.record_open(code)
    return Response(PIXEL, mimetype="image/gif", headers=NO_STORE)


def _customer(token: str) -> tuple[Customer, Store] | None:
    ids = read_unsubscribe_token(token)
    customer = db.session.get(Customer, ids[1]) if ids else None
    if customer is None or customer.store_id != ids[0]:
        return None
    return customer, db.session.get(Store, customer.store_id)


@bp.get("/unsubscribe/<token>")
def unsubscribe_page(token: str):
    found = _customer(token)
    if found is None:
        return _not_found()
    customer, store = found
    return render_template("public/unsubscribe.html", store_name=store.name,
                           done=customer.unsubscribed_at is not None), 200, NO_STORE


@bp.post("/unsubscribe/<token>")
def unsubscribe(token: str):
    """The confirmation form, and RFC 8058 one-click (a cookieless POST of List-Unsubscribe=One-Click, no redirect)."""
    found = _customer(token)
    if found is None:
        return _not_found()
    customer, store = found
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    customers.unsubscribe(customer, source="one_click" if one_click else "unsubscribe_page")
    if one_click:
        return Response("Unsubscribed.\n", mimetype="text/plain", headers=NO_STORE)
    return render_template("public/unsubscribe.html", store_name=store.name, done=True), 200, NO_STORE


@bp.route("/webhooks/vonage/inbound", methods=["GET", "POST"])
@bp.route("/webhooks/vonage/inbound/<token>", methods=["GET", "POST"])
def vonage_inbound(token: str | None = None):
    """Inbound SMS (keywords, replies to conversations). Answered 200 whenever the request is Vonage's, or it resends
    for a day."""
    params = request.args.to_dict() | request.form.to_dict()
    if request.is_json:
        body = request.get_json(silent=True)
        params |= {key: str(value) for key, value in (body or {}).items()} if isinstance(body, dict) else {}
    config = current_app.config
    try:
        vonage.authenticate(params, token, secret=config["VONAGE_SIGNATURE_SECRET"],
                            method=config["VONAGE_SIGNATURE_METHOD"], token=config["VONAGE_INBOUND_TOKEN"])
    except vonage.Unauthenticated as error:
        return jsonify(error={"code": "invalid_signature", "message": str(error)}), 401
    try:
        inbound = vonage.parse(params)
    except vonage.InvalidInbound as error:
        return jsonify(error={"code": "invalid_inbound", "message": str(error)}), 400
    return jsonify(vonage.handle(inbound))


SENDGRID_EVENTS_MAX_BYTES = 8 * 1024 * 1024  # SendGrid batches events; far more than the API's 256 KiB


@bp.post("/webhooks/sendgrid/events")
def sendgrid_events():
    """SendGrid's Event Webhook (deliveries, opens, clicks, bounces, spam reports). Signed requests only."""
    request.max_content_length = SENDGRID_EVENTS_MAX_BYTES
    body = request.get_data(cache=False)
    try:
        sendgrid.verify(body, request.headers.get(sendgrid.SIGNATURE_HEADER),
                        request.headers.get(sendgrid.TIMESTAMP_HEADER),
                        current_app.config["SENDGRID_WEBHOOK_PUBLIC_KEY"],
                        current_app.config["SENDGRID_WEBHOOK_MAX_AGE_SECONDS"])
    except sendgrid.InvalidEvents as error:
        return jsonify(error={"code": "invalid_signature", "message": str(error)}), 401
    try:
        events = sendgrid.parse(body)
    except sendgrid.InvalidEvents as error:
        return jsonify(error={"code": "invalid_events", "message": str(error)}), 400
    return jsonify(applied=dict(sendgrid.handle(events)))


@bp.post("/webhooks/sendgrid/inbound/<token>")
def sendgrid_inbound_parse(token: str):
    """SendGrid Inbound Parse: a shopper's reply to one of our emails, filed in their conversation."""
    config = current_app.config
    try:
        sendgrid_inbound.authenticate(token, config["SENDGRID_INBOUND_TOKEN"])
    except sendgrid_inbound.Unauthenticated as error:
        return jsonify(error={"code": "invalid_token", "message": str(error)}), 401
    request.max_content_length = sendgrid_inbound.MAX_BYTES
    request.max_form_memory_size = sendgrid_inbound.MAX_FIELD_BYTES
    request.max_form_parts = sendgrid_inbound.MAX_PARTS
    request.form_data_parser_class = sendgrid_inbound.RawFieldsParser
    try:
        return jsonify(sendgrid_inbound.handle(request.form, secret=config["SECRET_KEY"],
                                               domain=config["REPLY_DOMAIN"]))
    except sendgrid_inbound.InvalidInboundEmail as error:
        return jsonify(error={"code": "invalid_inbound", "message": str(error)}), 400
