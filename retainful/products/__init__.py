"""Products: what a store tells us about the things it sells (``PUT /api/v1/products/<product_id>``, the admin's
product form), keyed by the shop's product id; today their name and how many days one lasts
(``replenish_after_days``), which the replenishment reminders count from an order of it."""
from __future__ import annotations

import re
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from retainful.errors import FieldError
from retainful.extensions import db
from retainful.models import Product, Store
from retainful.models.product import REPLENISH_DAYS

PRODUCT_ID_PATTERN = r"^[^\x00-\x1f\x7f]{1,64}$"  # the shop's id: what a line's product_id may be
_PRODUCT_ID = re.compile(PRODUCT_ID_PATTERN)


def checked_product_id(product_id: str) -> str:
    if not _PRODUCT_ID.fullmatch(product_id):
        raise FieldError("product_id", "1 to 64 characters, no control characters.")
    return product_id


def get_product(store: Store, product_id: str) -> Product | None:
    return db.session.scalar(sa.select(Product).where(Product.store_id == store.id,
                                                      Product.product_id == product_id))


def replenishable(store_id: int, product_ids: Iterable[str]) -> dict[str, Product]:
    """The store's products among these ids that have a ``replenish_after_days``, by product id."""
    wanted = sorted(set(product_ids))
    if not wanted:
        return {}
    return {p.product_id: p for p in db.session.scalars(sa.select(Product).where(
        Product.store_id == store_id, Product.product_id.in_(wanted), Product.replenish_after_days.is_not(None)))}


def save_product(store: Store, product_id: str, name: str, replenish_after_days: int | None) -> tuple[Product, bool]:
    """Create or replace a product (the caller validated the fields; the bounds are checked again here for the
    admin). Returns (product, created); commits."""
    product_id = checked_product_id(product_id)
    name = (name or "").strip()
    if not 1 <= len(name) <= 300:
        raise FieldError("name", "Between 1 and 300 characters.")
    low, high = REPLENISH_DAYS
    if replenish_after_days is not None and not low <= replenish_after_days <= high:
        raise FieldError("replenish_after_days", f"Between {low} and {high} days, or empty for no reminder.")
    product = get_product(store, product_id)
    created = product is None
    if created:
        product = Product(store_id=store.id, product_id=product_id)
        db.session.add(product)
    product.name, product.replenish_after_days = name, replenish_after_days
    try:
        db.session.commit()
    except IntegrityError:  # two first PUTs of one product at once: the later one replaces the earlier's row
        db.session.rollback()
        product, created = get_product(store, product_id), False
        product.name, product.replenish_after_days = name, replenish_after_days
        db.session.commit()
    return product, created


__all__ = ["checked_product_id", "get_product", "replenishable", "save_product"]
