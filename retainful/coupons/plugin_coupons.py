"""Creating our coupons through the official Retainful plugin's endpoint, for a store connected by the plugin.

``POST <shop>/wp-json/retainful-api/v1/coupon`` takes ``{"discount_rule": {...}, "digest": ...}``, Retainful's
Shopify-shaped price rule: the plugin re-encodes ``value_type``, ``value`` and ``coupon_code`` with PHP's
``json_encode`` and compares its HMAC-SHA256 (keyed with the store's secret, hex) with ``digest``, so the digest is
computed over that re-encoding. It only sets an amount when ``value`` is negative (10% off is -10), and updates a coupon
whose code exists, which makes a repeated attempt harmless. The shop is the ``domain`` of the plugin's connect call.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timezone
from decimal import Decimal

from retainful import connections, egress
from retainful.models import Coupon, DiscountType, Store

PATH = "/wp-json/retainful-api/v1/coupon"


def php_number(amount: Decimal) -> int | float:
    """An amount as the plugin's PHP re-encodes it: 10.00 is ``10``, 12.50 is ``12.5`` (a float of that shortest form,
    which is what json_encode writes back)."""
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def digest(rule: dict, secret: str) -> str:
    """The plugin's check: HMAC-SHA256 over ``json_encode({value_type, value, coupon_code}, JSON_UNESCAPED_UNICODE |
    JSON_UNESCAPED_SLASHES)``, in that order, as lower-case hex."""
    signed = {key: rule.get(key, "") for key in ("value_type", "value", "coupon_code")}
    text = json.dumps(signed, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def discount_rule(coupon: Coupon) -> dict:
    """The ``discount_rule`` for one of our coupons, in the fields ``CouponManagement::createRestCoupon`` reads."""
    free_shipping = coupon.discount_type == DiscountType.FREE_SHIPPING
    return {
        "coupon_code": coupon.code,
        "value_type": "fixed_amount" if coupon.discount_type == DiscountType.FIXED else "percentage",
        "value": 0 if free_shipping else php_number(-coupon.amount),
        "target_type": "shipping_line" if free_shipping else "line_item",
        "usage_limit": coupon.usage_limit,
        "usage_limit_per_user": coupon.usage_limit,
        "customer_email": coupon.email,
        "ends_at": coupon.expires_at.astimezone(timezone.utc).isoformat(timespec="seconds"),
        "prerequisite_subtotal_range": {"greater_than_or_equal_to": php_number(coupon.minimum_total or Decimal(0))},
    }


def shop_url(store: Store) -> str | None:
    """The shop's address from the plugin's connect call, or None while the plugin has not connected."""
    domain = (store.retainful_shop or {}).get("domain")
    return domain if store.retainful_connected_at is not None and isinstance(domain, str) and domain else None


class PluginCoupons:
    """The shop coupon backend of a store connected by the Retainful plugin (see coupons/woo_sync.py)."""
    connection = connections.PLUGIN

    @staticmethod
    def send(coupon: Coupon, store: Store, timeout: float) -> egress.ShopReply:
        rule = discount_rule(coupon)
        return egress.request("POST", shop_url(store), PATH, timeout=timeout,
                              json_body={"discount_rule": rule, "digest": digest(rule, store.retainful_secret_key)})

    @staticmethod
    def created(reply: egress.ShopReply) -> tuple[bool, object | None]:
        body = reply.json()
        ok = reply.status == 200 and isinstance(body, dict) and body.get("success") is True
        return ok, body.get("external_price_rule_id") if ok else None

    @staticmethod
    def error_code(body: object) -> object:
        """``RESPONSE_CODE`` (SECURITY_BREACH, DATA_MISSING), or WordPress's own ``code`` (rest_no_route: no plugin)."""
        return body.get("RESPONSE_CODE") or body.get("code") if isinstance(body, dict) else None
