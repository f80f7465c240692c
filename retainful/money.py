"""Money is a Decimal with a currency, never a float."""
from __future__ import annotations

from decimal import Decimal

from babel.numbers import get_currency_precision

# The largest amount the service takes in (API, admin, coupons): far above any real order, far below the columns'
# Numeric(18, 4) limit, so no stored amount can be infinite or overflow. Money has at most 4 decimal places.
MAX_AMOUNT = Decimal("1000000000000")
MONEY_STEP = Decimal("0.0001")


def format_amount(amount: Decimal, currency: str) -> str:
    """The amount as a plain decimal string with the currency's usual places ("19.99" USD, "1200" JPY).

    Places beyond the currency's are kept rather than rounded away, so nothing stored is ever misreported.
    """
    places = Decimal(1).scaleb(-get_currency_precision(currency))
    rounded = amount.quantize(places)
    return format(rounded if rounded == amount else amount.normalize(), "f")
