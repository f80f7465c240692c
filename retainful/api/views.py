"""Storefront REST API v1: thin views that validate, call one domain function and shape the answer."""
from __future__ import annotations

import re

from flask import Blueprint, jsonify, request

from retainful import carts, orders
from retainful.api.errors import ApiError, validation_error
from retainful.api.request import authenticate_request, current_store, json_body, refuse_unstorable_url
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
    cart = carts.get_cart(current_store(), _checked_token(token))
    if cart is None:
        raise ApiError(404, "not_found", "No cart with this token.")
    return cart


def _prefixed(error: FieldError, prefix: str) -> FieldError:
    return error.prefixed(prefix) if error.field in ("email", "phone") else error


@bp.put("/carts/<token>")
def put_cart(token: str):
    data = json_body(cart_in)
    try:
        cart, created = carts.report_cart(current_store(), _checked_token(token), data)
    except FieldError as error:
        raise _prefixed(error, "customer") from None
    return jsonify(cart_out.dump(cart)), 201 if created else 200


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
    return jsonify(order_out.dump(order)), 201 if created else 200


@bp.get("/orders/<order_id>")
def get_order(order_id: str):
    order = orders.get_order(current_store(), order_id[:64])
    if order is None:
        raise ApiError(404, "not_found", "No order with this id.")
    return jsonify(order_out.dump(order))
