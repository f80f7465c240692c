"""Demo history for a store (``retainful demo-data``): months of carts, orders, messages and clicks made by the real
domain functions under a moving clock, so every admin page and report shows something true to life."""
from retainful.demo.history import DemoHistoryExists, clear_history, counts, generate, has_history

__all__ = ["DemoHistoryExists", "clear_history", "counts", "generate", "has_history"]
