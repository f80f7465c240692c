"""Products of the current store: the list, and a form for each one's name and ``replenish_after_days`` (the
replenishment reminders). Reading needs READ, saving MANAGE (an automation setting, like the steps)."""
from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _

from retainful_admin import forms
from retainful_admin.forms import field_message
from retainful_admin.security import SecuredMixin, current_store, get_scoped_or_404, requires
from retainful import products, users
from retainful.errors import FieldError
from retainful.extensions import db
from retainful.models import Product
from retainful.models.product import REPLENISH_DAYS

PER_PAGE = 50


class ProductsView(SecuredMixin, BaseView):
    @expose("/")
    def index(self):
        store = current_store()
        q = (request.args.get("q") or "").strip()
        query = sa.select(Product).where(Product.store_id == store.id)
        if q:
            query = query.where(sa.or_(sa.func.lower(Product.name).contains(q.lower(), autoescape=True),
                                       Product.product_id == q))
        page = db.paginate(query.order_by(Product.name, Product.id), page=max(1, min(
            request.args.get("page", type=int) or 1, 100_000)), per_page=PER_PAGE, error_out=False)
        return self.render("retainful_admin/products.html", page=page, q=q)

    def _form(self, product: Product | None, error: FieldError | None = None, status: int = 200):
        """The form: the product's values, or what was typed with the refused field's reason at it."""
        if error is not None:
            values = request.form
        else:
            values = {"name": product.name, "replenish_after_days": product.replenish_after_days} if product else {}
        return self.render("retainful_admin/product.html", product=product, values=values, days=REPLENISH_DAYS,
                           errors={error.field: field_message(error)} if error else {}), status

    def _save(self, product: Product | None):
        product_id = product.product_id if product else (request.form.get("product_id") or "").strip()
        try:
            days = forms.integer(request.form, "replenish_after_days", _("Replenish after (days)"), required=False)
            saved, _created = products.save_product(current_store(), product_id, request.form.get("name") or "", days)
        except FieldError as error:
            db.session.rollback()
            return self._form(product, error, 400)
        flash(_("Product %(name)s saved.", name=saved.name), "success")
        return redirect(url_for(".index"))

    @expose("/new", methods=("GET", "POST"))
    @requires(users.MANAGE)
    def create(self):
        return self._save(None) if request.method == "POST" else self._form(None)

    @expose("/<int:product_row_id>")
    def edit(self, product_row_id: int):
        return self._form(get_scoped_or_404(Product, product_row_id))

    @expose("/<int:product_row_id>", methods=("POST",))
    @requires(users.MANAGE)
    def update(self, product_row_id: int):
        return self._save(get_scoped_or_404(Product, product_row_id))
