"""Coupons in the storefront: may this shopper use this code on this cart, and redeem it once."""
from __future__ import annotations

from flask import jsonify, request
from marshmallow import ValidationError

from retainful import coupons
from retainful.api.errors import ApiError, flatten_messages, validation_error
from retainful.api.request import external_id, json_body, row_or_404, saved
from retainful.api.schemas import CouponCheckIn, CouponOut, CouponRedeemIn
from retainful.api.views import bp
from retainful.money import format_amount

coupon_out = CouponOut()


def _coupon_or_404(code: str):
    return row_or_404("coupon", coupons.find_coupon, code, external_id, by="code")


def _check(code: str, data: dict):
    result = coupons.check(_coupon_or_404(code), data["email"], data["subtotal"])
    return jsonify(coupon=coupon_out.dump(result.coupon), valid=result.valid, reason=result.reason,
                   discount=format_amount(result.discount, result.coupon.currency),
                   free_shipping=result.free_shipping)


@bp.post("/coupons/<code>/check")
def check_coupon(code: str):
    """The check with the shopper's email in the body, where no proxy or access log writes it down."""
    return _check(code, json_body(CouponCheckIn()))


@bp.get("/coupons/<code>")
def check_coupon_by_query(code: str):
    """The same check for plugins that already call it; its query string carries the email (prefer the POST)."""
    try:
        query = CouponCheckIn().load(request.args.to_dict())
    except ValidationError as error:
        raise validation_error(flatten_messages(error.messages)) from None
    return _check(code, query)


@bp.post("/coupons/<code>/redeem")
def redeem_coupon(code: str):
    data = json_body(CouponRedeemIn())
    coupon = _coupon_or_404(code)
    try:
        redemption, created = coupons.redeem(coupon, data["order_id"], data["email"])
    except coupons.CouponUnavailable as error:
        raise ApiError(409, error.reason, f"The coupon cannot be redeemed: {error.reason}.") from None
    body = {"coupon": coupon_out.dump(coupon), "order_id": redemption.order_external_id,
            "redeemed_at": redemption.redeemed_at.isoformat()}
    return saved(body, created)
