"""Coupons: readable unguessable codes, recovery, win-back and next-order issuing, checks and single redemption."""
from retainful.coupons.issuing import next_order_coupon_for, recovery_coupon_for, step_coupon
from retainful.coupons.redemption import Check, CouponUnavailable, check, discount_text, find_coupon, redeem

__all__ = ["Check", "CouponUnavailable", "check", "discount_text", "find_coupon", "next_order_coupon_for",
           "recovery_coupon_for", "redeem", "step_coupon"]
