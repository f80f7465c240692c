"""Recovery sequences and the planning of their messages for abandoned carts."""
from retainful.recovery.planning import cancel_pending, plan_abandoned
from retainful.recovery.sequences import (
    DEFAULT_STEPS,
    MAX_DELAY,
    abandoned_cart_sequence,
    create_default_sequence,
    update_step,
)

__all__ = [
    "DEFAULT_STEPS", "MAX_DELAY", "abandoned_cart_sequence", "cancel_pending", "create_default_sequence",
    "plan_abandoned", "update_step",
]
