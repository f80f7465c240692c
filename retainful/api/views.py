"""Storefront REST API v1: thin views that validate, call one domain function and shape the answer."""
from __future__ import annotations

import re

from flask import Blueprint, jsonify, request

from retainful import carts, orders
from retainful.api.errors import validation_error
from retainful.api.request import (authenticate_request, current_store, external_id, json_body, refuse_unstorable_url,
                                   row_or_404, saved)
from retainful.api.schemas import TOKEN_PATTERN, CartIn, CartOut, OrderIn, OrderOut
from retainful.errors import FieldError

bp = Blueprint("api", __name__, url_prefix="/api/v1")

_token = re.compile(TOKEN_PATTERN)
cart_in, cart_out, order_in, order_out = CartIn(), CartOut(), OrderIn(), OrderOut()


@bp.before_request
def _authenticate():
    if request.endpoint not in ("api.openapi", "api.woocommerce_webhook"):  # the webhook is signed instead
        authenticate_request()
    refuse_unstorable_url()


def _checked_token(token: str) -> str:
    if not _token.match(token):
        raise validation_error({"token": ["1 to 128 characters: letters, digits, '.', '_', ':' or '-'."]})
    return token


def _cart_or_404(token: str):
    return row_or_404("cart", carts.get_cart, token, _checked_token, by="token")


def _prefixed(error: FieldError, prefix: str) -> FieldError:
    return error.prefixed(prefix) if error.field in ("email", "phone") else error


@bp.put("/carts/<token>")
def put_cart(token: str):
    data = json_body(cart_in)
    try:
        cart, created = carts.report_cart(current_store(), _checked_token(token), data)
    except FieldError as error:
        raise _prefixed(error, "customer") from None
    return saved(cart_out.dump(cart), created)


@bp.get("/carts/<token>")
def get_cart(token: str):
    return jsonify(cart_out.dump(_cart_or_404(token)))


@bp.delete("/carts/<token>")
def delete_cart(token: str):
    carts.delete_cart(current_store(), _cart_or_404(token))
    return "", 204


@bp.post("/orders")
def post_order():
    data = json_body(order_in)
    try:
        order, created = orders.record_order(current_store(), data)
    except FieldError as error:
        raise _prefixed(error, "customer") from None
    return saved(order_out.dump(order), created)


@bp.get("/orders/<order_id>")
def get_order(order_id: str):
    return jsonify(order_out.dump(row_or_404("order", orders.get_order, order_id, external_id)))
