"""Automations: each kind is one module with one :class:`Automation` subclass, registered in ``registry``.

``planner`` writes their outbox rows (one per automation, subject, step and channel), ``settings`` keeps each store's
steps, ``send_time`` picks a step's local send hour. See README.md in this package for how to add one.
"""
from retainful.automations import registry
from retainful.automations.base import Automation, StepDefault, Target
from retainful.automations.planner import dedup_key, plan, plan_due
from retainful.automations.settings import (automation_or_error, create_defaults, current_settings, describe,
                                            describe_all, enabled_steps, format_delay, parse_delay, replace,
                                            set_enabled, settings_for, update_step)
# Each module registers its automation at import; the order here is the order of listings.
from retainful.automations import abandoned_cart, next_order, win_back  # noqa: E402,F401  (registration)
from retainful.automations import welcome, post_purchase, order_update, birthday  # noqa: E402,F401
from retainful.automations import replenishment  # noqa: E402,F401
from retainful.conversations import replies  # noqa: E402,F401  (the unlisted reply kinds)
from retainful.campaigns import automation as campaign_kind  # noqa: E402,F401  (the unlisted campaign kind)
from retainful.automations.abandoned_cart import in_holdout, plan_abandoned


def order_recorded(order, store, created: bool) -> None:
    """An order was recorded or changed state: every automation that reacts to orders does so (next_order issues its
    coupon, win_back cancels what is pending, ...)."""
    for automation in registry.all_automations():
        automation.on_order(order, store, created)


__all__ = [
    "Automation", "StepDefault", "Target", "automation_or_error", "create_defaults", "current_settings", "dedup_key",
    "describe", "describe_all", "enabled_steps", "format_delay", "in_holdout", "order_recorded", "parse_delay", "plan",
    "plan_abandoned", "plan_due", "registry", "replace", "set_enabled", "settings_for", "update_step",
]
