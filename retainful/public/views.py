"""Thin adapters for what shoppers click: a short link, an email's pixel, an unsubscribe link."""
from __future__ import annotations

import base64

from flask import Blueprint, Response, redirect, render_template, request

from retainful import customers
from retainful.extensions import db
from retainful.messaging import tracking
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
