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

PRODUCT_ID = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")  # the shop's id: what a line's product_id may be


def checked_product_id(product_id: str) -> str:
    if not PRODUCT_ID.match(product_id) or product_id != product_id.strip():
        raise FieldError("product_id", "1 to 64 characters, no control characters or surrounding spaces.")
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
    for _ in range(2):  # two first PUTs of one product at once: the loser updates the winner's row
        product = get_product(store, product_id)
        created = product is None
        if created:
            product = Product(store_id=store.id, product_id=product_id)
            db.session.add(product)
        product.name, product.replenish_after_days = name, replenish_after_days
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            continue
        return product, created
    raise RuntimeError("product upsert lost twice")  # not reached: the second try finds the row


def list_products(store: Store, *, limit: int, offset: int = 0) -> list[Product]:
    return list(db.session.scalars(sa.select(Product).where(Product.store_id == store.id)
                                   .order_by(Product.name, Product.id).limit(limit).offset(offset)))


__all__ = ["checked_product_id", "get_product", "list_products", "replenishable", "save_product"]
