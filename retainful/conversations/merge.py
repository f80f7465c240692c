"""Merge variables in an agent's reply and in canned replies: ``{{ customer.first_name }}``, ``{{ recovery_link }}``,
``{{ cart.total }}``, ``{{ store.name }}`` and ``{{ coupon }}`` (a fresh coupon, minted only if the text uses it, in
the transaction that sends the reply). Rendered by the sandboxed engine with its budget."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from retainful.coupons.issuing import step_coupon
from retainful.errors import FieldError
from retainful.extensions import db
from retainful.models import (ABANDONED_CART, Cart, Conversation, Coupon, CouponKind, Customer, Sequence, Step,
                              Store)
from retainful.rendering import render_text
from retainful.rendering.context import SampleCustomer, cart_view, customer_vars, sample_cart, store_vars


class FreshCoupon:
    """``{{ coupon }}`` / ``{{ coupon.code }}``: minted at first use by the store's abandoned-cart coupon rule (the
    first step that has one), restricted to the shopper's email like every coupon."""

    def __init__(self, store: Store, customer: Customer, currency: str):
        self._store, self._customer, self._currency = store, customer, currency
        self._coupon: Coupon | None = None

    def _minted(self) -> Coupon:
        if self._coupon is None:
            step = db.session.scalars(sa.select(Step).join(Sequence, Step.sequence_id == Sequence.id).where(
                Sequence.store_id == self._store.id, Sequence.kind == ABANDONED_CART,
                Step.coupon_type.is_not(None)).order_by(Step.position).limit(1)).first()
            if step is None:
                raise FieldError("text", "{{ coupon }}: no abandoned-cart step has a coupon rule to mint one with")
            self._coupon = step_coupon(step, self._customer, self._store, kind=CouponKind.CONVERSATION,
                                       currency=self._currency)
        return self._coupon

    @property
    def code(self) -> str:
        return self._minted().code

    def __str__(self) -> str:
        return self.code


def context(conversation: Conversation) -> dict[str, Any]:
    """The variables a reply may use."""
    store = db.session.get(Store, conversation.store_id)
    customer = db.session.get(Customer, conversation.customer_id)
    cart = db.session.get(Cart, conversation.cart_id) if conversation.cart_id else None
    currency = cart.currency if cart is not None else store.currency
    return {"store": store_vars(store), "customer": customer_vars(customer),
            "cart": cart_view(cart) if cart is not None else None,
            "recovery_link": cart.recovery_url if cart is not None else None,
            "coupon": FreshCoupon(store, customer, currency)}


def render(conversation: Conversation, text: str) -> str:
    """The text with its merge variables filled in; a template error is a FieldError naming ``text``."""
    return _rendered(text, context(conversation))


def check(store: Store, text: str) -> str:
    """Render a canned reply with a sample shopper, cart and coupon code: a FieldError naming ``text`` if it cannot."""
    sample = {"store": store_vars(store), "customer": customer_vars(SampleCustomer()), "cart": sample_cart(store),
              "recovery_link": f"https://{store.domain}/cart", "coupon": "SAMPLECOUPON"}
    return _rendered(text, sample)


def _rendered(text: str, variables: dict[str, Any]) -> str:
    try:
        return render_text(text or "", variables)
    except FieldError as error:
        raise FieldError("text", error.message) from None
