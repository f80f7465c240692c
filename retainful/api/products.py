"""Products: ``PUT /api/v1/products/<product_id>`` (create or replace: 201 / 200) and ``GET`` (404 for an id the
store never sent)."""
from __future__ import annotations

from flask import jsonify

from retainful import products
from retainful.api.request import current_store, external_id, json_body, row_or_404, saved
from retainful.api.schemas import ProductIn, ProductOut
from retainful.api.views import bp

product_in, product_out = ProductIn(), ProductOut()


@bp.put("/products/<product_id>")
def put_product(product_id: str):
    products.checked_product_id(product_id)
    data = json_body(product_in)
    product, created = products.save_product(current_store(), product_id, data["name"],
                                             data["replenish_after_days"])
    return saved(product_out.dump(product), created)


@bp.get("/products/<product_id>")
def get_product(product_id: str):
    return jsonify(product_out.dump(row_or_404("product", products.get_product, product_id, external_id)))
