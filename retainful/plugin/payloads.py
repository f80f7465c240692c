"""The plugin's cart and order plaintexts, read as the storefront API's cart and order reports.

The plugin sends Shopify-shaped JSON (``Cart::getUserCart``, ``Order::getOrderData``). These functions only rename
and pick; the storefront API's schemas validate the result, and :func:`plugin_field` names a refused field the way
the plugin spelled it. PHP writes "no value" as ``""``, ``0``, ``false`` or ``[]``; those become absent here.
"""
from __future__ import annotations

from typing import Any

from retainful.errors import FieldError

# A report field (dotted path) -> the plugin's field it came from; an item's fields are under ``line_items.N``.
_PLUGIN_FIELDS = {
    "items": "line_items", "subtotal": "subtotal_price", "total": "total_price", "currency": "presentment_currency",
    "recovery_url": "abandoned_checkout_url", "customer.email": "email", "customer.email_consent":
    "buyer_accepts_marketing", "customer.locale": "customer_locale", "customer.external_id": "customer.id",
    "order_id": "r_order_id", "status": "order_status", "coupon_codes": "discount_codes", "created_at": "completed_at",
    "email": "email", "phone": "customer.phone",
}
_ITEM_FIELDS = {"name": "title"}


def plugin_field(path: str) -> str:
    """``items.0.name`` -> ``line_items.0.title``: errors name what the plugin sent."""
    parts = path.split(".")
    if parts[0] == "items" and len(parts) == 3:
        return f"line_items.{parts[1]}.{_ITEM_FIELDS.get(parts[2], parts[2])}"
    for length in (2, 1):
        prefix = ".".join(parts[:length])
        if prefix in _PLUGIN_FIELDS:
            return ".".join([_PLUGIN_FIELDS[prefix], *parts[length:]])
    return path


def _value(value: Any) -> Any:
    """PHP's ways of saying "none" (``null``, ``false``, ``""``, ``0``, ``[]``) as None; anything else unchanged."""
    if value is None or value is False or (type(value) in (str, int, list, dict) and not value):
        return None
    return value


def _object(payload: dict[str, Any], key: str) -> dict[str, Any]:
    value = payload.get(key)
    if isinstance(value, dict):
        return value
    if value in (None, "", [], False):  # PHP's json_encode writes an empty array for an empty object
        return {}
    raise FieldError(key, "Must be an object.")


def _first(*values: Any) -> Any:
    return next((value for value in map(_value, values) if value is not None), None)


def cart_token(payload: dict[str, Any]) -> Any:
    return _first(payload.get("cart_token"), payload.get("token"), payload.get("id"))


def envelope(payload: dict[str, Any]) -> dict[str, Any]:
    """The fields that say what the plaintext is: its kind, cart token, times and order status."""
    status = payload.get("order_status")
    return {
        "cart_type": payload.get("cart_type"),
        "cart_token": cart_token(payload),
        "updated_at": _value(payload.get("updated_at")),
        "completed_at": _value(payload.get("completed_at")),
        "order_status": status.strip().lower().removeprefix("wc-") if isinstance(status, str) else status,
        "treat_on_hold_as_complete": payload.get("treat_on_hold_as_complete") is True,
    }


def _customer(payload: dict[str, Any], swapped_names: bool) -> dict[str, Any]:
    customer, billing = _object(payload, "customer"), _object(payload, "billing_address")
    first, last = customer.get("first_name"), customer.get("last_name")
    if swapped_names:  # Order::getCustomerDetails puts the billing last name in first_name and vice versa
        first, last = last, first
    return {
        "email": _first(payload.get("email"), customer.get("email")),
        "phone": _first(customer.get("phone"), billing.get("phone")),
        "first_name": _first(first, billing.get("first_name")),
        "last_name": _first(last, billing.get("last_name")),
        "external_id": _value(customer.get("id")),
        "email_consent": payload.get("buyer_accepts_marketing"),
        "locale": _value(payload.get("customer_locale")),
    }


def _item(line: Any) -> Any:
    if not isinstance(line, dict):
        return line  # the schema names it
    return {
        "product_id": line.get("product_id"),
        "variant_id": _value(line.get("variant_id")),
        "sku": _value(line.get("sku")),
        "name": line.get("title"),
        "quantity": line.get("quantity"),
        "price": line.get("price"),
        "image_url": _value(line.get("image_url")),
        "product_url": _value(line.get("product_url")),
    }


def _currency(payload: dict[str, Any]) -> Any:
    return _first(payload.get("presentment_currency"), payload.get("currency"))


def _items(payload: dict[str, Any]) -> Any:
    lines = payload.get("line_items")
    return [_item(line) for line in lines] if isinstance(lines, list) else lines


def cart_report(payload: dict[str, Any], swapped_names: bool = False) -> dict[str, Any]:
    """A plugin cart (or a not yet placed order) as the body of ``PUT /api/v1/carts/<token>``."""
    return {
        "customer": _customer(payload, swapped_names),
        "currency": _currency(payload),
        "items": _items(payload),
        "subtotal": payload.get("subtotal_price"),
        "total": payload.get("total_price"),
        "recovery_url": _value(payload.get("abandoned_checkout_url")),
    }


def _coupon_codes(codes: Any) -> Any:
    if not isinstance(codes, list):
        return _value(codes)
    return [code.get("code") if isinstance(code, dict) else code for code in codes]


def order_report(payload: dict[str, Any]) -> dict[str, Any]:
    """A plugin order as the body of ``POST /api/v1/orders``."""
    return {
        "order_id": _first(payload.get("r_order_id"), payload.get("order_number")),
        "cart_token": cart_token(payload),
        "customer": _customer(payload, swapped_names=True),
        "total": payload.get("total_price"),
        "currency": _currency(payload),
        "status": payload.get("order_status"),
        "coupon_codes": _coupon_codes(payload.get("discount_codes")),
        "created_at": _value(payload.get("completed_at")),
        "items": _items(payload),
    }
