"""Checking a coupon for a shopper and a cart, and redeeming it exactly once."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from babel.numbers import format_currency, get_currency_precision
from sqlalchemy.exc import IntegrityError

from retainful import clock
from retainful.coupons.codes import normalise_code
from retainful.extensions import db
from retainful.models import Coupon, CouponRedemption, DiscountType, Store


class CouponUnavailable(Exception):
    """The coupon cannot be redeemed; ``reason`` says why (used_up, expired, wrong_customer, below_minimum)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Check:
    coupon: Coupon
    valid: bool
    reason: str | None
    discount: Decimal  # what to take off this subtotal (0 for free shipping)
    free_shipping: bool


def find_coupon(store: Store, code: str) -> Coupon | None:
    code = normalise_code(code)
    if not code.isprintable():  # NUL or a lone surrogate names no coupon, and PostgreSQL would refuse the query
        return None
    return db.session.scalar(sa.select(Coupon).where(Coupon.store_id == store.id, Coupon.code == code))


# The words around a discount in the languages the message templates are shipped in (English otherwise).
DISCOUNT_WORDS = {"en": ("{amount} off", "Free shipping"), "ko": ("{amount} 할인", "무료 배송")}


def discount_text(coupon: Coupon, locale: str = "en_US") -> str:
    """What templates show, in the shopper's language: "10% off", "$5.00 off", "Free shipping"; "10% 할인"."""
    amount_off, free_shipping = DISCOUNT_WORDS.get(locale.replace("-", "_").split("_")[0].lower(), DISCOUNT_WORDS["en"])
    if coupon.discount_type == DiscountType.PERCENT:
        return amount_off.format(amount=f"{coupon.amount.normalize():f}%")
    if coupon.discount_type == DiscountType.FIXED:
        return amount_off.format(amount=format_currency(coupon.amount, coupon.currency, locale=locale))
    return free_shipping


def discount_for(coupon: Coupon, subtotal: Decimal) -> Decimal:
    places = Decimal(1).scaleb(-get_currency_precision(coupon.currency))
    if coupon.discount_type == DiscountType.PERCENT:
        return (subtotal * coupon.amount / 100).quantize(places, ROUND_HALF_UP)
    if coupon.discount_type == DiscountType.FIXED:
        return min(coupon.amount, subtotal).quantize(places, ROUND_HALF_UP)
    return Decimal(0).quantize(places)


def _reason(coupon: Coupon, email: str | None, subtotal: Decimal | None) -> str | None:
    if coupon.usage_count >= coupon.usage_limit:
        return "used_up"
    if clock.now() >= coupon.expires_at:
        return "expired"
    if coupon.email and (email or "").strip().lower() != coupon.email.lower():
        return "wrong_customer"
    if coupon.minimum_total is not None and subtotal is not None and subtotal < coupon.minimum_total:
        return "below_minimum"
    return None


def check(coupon: Coupon, email: str | None, subtotal: Decimal | None) -> Check:
    reason = _reason(coupon, email, subtotal)
    discount = discount_for(coupon, subtotal) if subtotal is not None and reason is None else Decimal(0)
    return Check(coupon, reason is None, reason, discount, coupon.discount_type == DiscountType.FREE_SHIPPING)


def redeem(coupon: Coupon, order_id: str, email: str | None) -> tuple[CouponRedemption, bool]:
    """Redeem for this order: (redemption, created). A repeat for the same order returns the first redemption.

    The usage count rises in one conditional UPDATE, so of two concurrent redemptions of a single-use coupon exactly
    one wins; the other gets CouponUnavailable("used_up").
    """
    existing = _redemption(coupon, order_id)
    if existing is not None:
        return existing, False
    reason = _reason(coupon, email, None)
    if reason is not None:
        raise CouponUnavailable(reason)
    claimed = db.session.execute(
        sa.update(Coupon).where(Coupon.id == coupon.id, Coupon.usage_count < Coupon.usage_limit)
        .values(usage_count=Coupon.usage_count + 1).execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        db.session.rollback()
        existing = _redemption(coupon, order_id)  # the other request was this same order's repeat
        if existing is not None:
            return existing, False
        raise CouponUnavailable("used_up")
    redemption = CouponRedemption(store_id=coupon.store_id, coupon_id=coupon.id, order_external_id=order_id,
                                  email=email)
    db.session.add(redemption)
    try:
        db.session.commit()
    except IntegrityError:  # the same order redeemed concurrently: keep one redemption, one use
        db.session.rollback()
        return _redemption(coupon, order_id), False
    db.session.refresh(coupon)
    return redemption, True


def _redemption(coupon: Coupon, order_id: str) -> CouponRedemption | None:
    return db.session.scalar(sa.select(CouponRedemption).where(CouponRedemption.coupon_id == coupon.id,
                                                               CouponRedemption.order_external_id == order_id))
