"""The merge variables a marketer picks from a list: the visual editor inserts them, the code editor completes them.

Each is an expression of the common context (:func:`~retainful.rendering.context.build_context`) that prints well
in any email, even where its value is missing (no cart, no coupon: it prints nothing). ``url`` variables are links,
the only merge variables a button or an image link may point at.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from retainful.words import N_


@dataclass(frozen=True)
class MergeVariable:
    expression: str  # inserted as ``{{ expression }}``
    label: str
    url: bool = False

    @property
    def token(self) -> str:
        return f"{{{{ {self.expression} }}}}"


MERGE_VARIABLES = (
    MergeVariable('customer.first_name or "there"', N_("First name (or “there”)")),
    MergeVariable("customer.first_name", N_("First name")),
    MergeVariable("customer.last_name", N_("Last name")),
    MergeVariable("store.name", N_("Store name")),
    MergeVariable("store.domain", N_("Store domain")),
    MergeVariable("cart.item_count", N_("Items in the cart")),
    MergeVariable("cart.total|money", N_("Cart total")),
    MergeVariable("coupon.code", N_("Coupon code")),
    MergeVariable("coupon.discount", N_("Coupon discount (e.g. “10%” off)")),
    MergeVariable("last_order.number", N_("Last order number")),
    MergeVariable("days_since_last_order", N_("Days since the last order")),
    MergeVariable("recovery_url", N_("Link back to the cart"), url=True),
    MergeVariable("store.url", N_("Link to the store"), url=True),
)
BY_EXPRESSION = {variable.expression: variable for variable in MERGE_VARIABLES}


def as_json() -> list[dict]:
    """The list as the editors' scripts read it."""
    return [{**asdict(variable), "token": variable.token} for variable in MERGE_VARIABLES]
