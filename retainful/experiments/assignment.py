"""Which variant a shopper sees: a stable hash of the experiment and the customer against the variants' weights, so
the same shopper gets the same variant on every message and every channel, in any process, forever."""
from __future__ import annotations

import hashlib
from typing import Sequence

from retainful.models import Variant


def bucket(experiment_id: int, customer_id: int) -> float:
    """A number in [0, 1), the same for the same pair, spread evenly over customers."""
    digest = hashlib.sha256(f"experiment:{experiment_id}:customer:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64


def assign(experiment_id: int, variants: Sequence[Variant], customer_id: int) -> Variant:
    """The variant whose share of the cumulative weights holds the customer's bucket (variants in position order)."""
    point = bucket(experiment_id, customer_id) * sum(v.weight for v in variants)
    for variant in variants:
        point -= variant.weight
        if point < 0:
            return variant
    return variants[-1]
