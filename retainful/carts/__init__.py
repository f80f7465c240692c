"""Cart lifecycle: storefront reports, the abandonment and close sweeps, deletion and retention purge."""
from retainful.carts.lifecycle import delete_cart, get_cart, report_cart
from retainful.carts.sweeps import close_lost, purge_expired, sweep_abandoned

__all__ = ["close_lost", "delete_cart", "get_cart", "purge_expired", "report_cart", "sweep_abandoned"]
