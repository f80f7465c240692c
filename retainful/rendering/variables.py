"""The merge variables a marketer picks from a list: the visual editor inserts them, the code editor completes them.

Each is an expression of the common context (:func:`~retainful.rendering.context.build_context`) that prints well
in any email, even where its value is missing (no cart, no coupon: it prints nothing). ``url`` variables are links,
the only merge variables a button or an image link may point at.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class MergeVariable:
    expression: str  # inserted as ``{{ expression }}``
    label: str
    url: bool = False

    @property
    def token(self) -> str:
        return f"{{{{ {self.expression} }}}}"


MERGE_VARIABLES = (
    MergeVariable('customer.first_name or "there"', "First name (or “there”)"),
    MergeVariable("customer.first_name", "First name"),
    MergeVariable("customer.last_name", "Last name"),
    MergeVariable("store.name", "Store name"),
    MergeVariable("store.domain", "Store domain"),
    MergeVariable("cart.item_count", "Items in the cart"),
    MergeVariable("cart.total|money", "Cart total"),
    MergeVariable("coupon.code", "Coupon code"),
    MergeVariable("coupon.discount", "Coupon discount (e.g. “10% off”)"),
    MergeVariable("last_order.number", "Last order number"),
    MergeVariable("days_since_last_order", "Days since the last order"),
    MergeVariable("recovery_url", "Link back to the cart", url=True),
    MergeVariable("store.url", "Link to the store", url=True),
)
BY_EXPRESSION = {variable.expression: variable for variable in MERGE_VARIABLES}


def as_json() -> list[dict]:
    """The list as the editors' scripts read it."""
    return [{**asdict(variable), "token": variable.token} for variable in MERGE_VARIABLES]
