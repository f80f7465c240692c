"""What every automation is: one subclass of :class:`Automation`, registered once (``registry.register``).

An automation says who is due and when (its default steps, measured from a trigger), what stops it, which templates
and coupons its messages use and whether its revenue counts as recovered. The one planner
(:mod:`retainful.automations.planner`) turns its targets into outbox rows; the dispatcher asks it again, at send time,
whether a message should still go out and which coupon it carries.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterable

from retainful.channels import channel

if TYPE_CHECKING:
    from retainful.messaging.policy import History
    from retainful.models import Cart, Coupon, Customer, Message, Order, Sequence, Step, Store


@dataclass(frozen=True)
class StepDefault:
    """One default step: delay after the trigger, channels, optional local hour and coupon rule."""

    delay: timedelta
    email: bool = True
    sms: bool = False
    at_hour: int | None = None
    coupon_type: str | None = None  # DiscountType, or None for no coupon
    coupon_amount: Decimal | None = None
    coupon_valid_hours: int = 48


@dataclass(frozen=True)
class Target:
    """One subject an automation plans messages for. ``subject`` names it in the de-duplication key ("cart:12",
    "order:7", "customer:3@1764547200"): the same subject planned twice gets the same rows."""

    subject: str
    customer: "Customer"
    trigger_at: datetime  # the steps' delays are measured from it
    cart_id: int | None = None
    coupon_id: int | None = None  # a coupon issued at planning time (next_order); else minted at send time
    extra: dict[str, Any] = field(default_factory=dict)


def consented_channels(step: "Step", customer: "Customer") -> tuple[str, ...]:
    """The step's channels that this customer can be reached on now (an address, no opt-out, consent where the
    channel needs it: the channel registry's rules), for automations that should not even plan a message the policy
    would skip. The policy checks again when sending."""
    return tuple(name for name in step.channels if channel(name).refusal(customer) is None)


class Automation:
    """The base class. Subclasses set the class attributes and override what differs; the defaults are those of a
    customer automation that is planned by events (no scan), sends what its steps say and stops for nothing."""

    kind: str = ""
    title: str = ""
    default_steps: tuple[StepDefault, ...] = ()
    default_enabled: bool = False
    # A reply to the shopper's own action (an order update): exempt from the per-customer marketing caps. Its sends
    # still count toward the caps of the others, and quiet hours, consent and unsubscribes hold for every kind.
    transactional: bool = False
    # Held while the shopper has an open conversation (marketing); replies and confirmations are not.
    paused_by_conversation: bool = True
    # Its sends count toward the frequency caps of the others (a conversation's replies do not).
    counts_toward_caps: bool = True
    # Orders credited to its messages count as recovered revenue (abandoned_cart); the others' are credited only.
    counts_as_recovered: bool = False
    # Orders may be credited to its messages at all (a conversation's replies are credited through the conversation).
    credits_orders: bool = True
    # The coupon kind its steps mint (CouponKind), or None if it issues none at send time.
    coupon_kind: str | None = None
    # A scanning automation does not plan steps due longer ago than this (switched on today, it does not send what
    # was due last month).
    stale_after: timedelta = timedelta(days=2)
    min_delay: timedelta = timedelta(minutes=1)
    max_delay: timedelta = timedelta(days=365)

    # --- settings -------------------------------------------------------------------------------------------
    def is_enabled(self, store: "Store", settings: "Sequence") -> bool:
        return settings.enabled

    def set_enabled(self, store: "Store", settings: "Sequence", enabled: bool) -> None:
        settings.enabled = enabled

    # --- planning -------------------------------------------------------------------------------------------
    def due(self, store: "Store", settings: "Sequence", now: datetime, limit: int) -> list[Target]:
        """The next subjects to plan (at most ``limit``), for automations that find them by scanning (win_back).
        Called by the ``automations`` job while it returns a full batch; event-driven kinds return nothing."""
        return []

    def channels_for(self, step: "Step", customer: "Customer") -> tuple[str, ...]:
        """The channels to plan for this customer (the policy re-checks consent when sending)."""
        return step.channels

    def on_order(self, order: "Order", store: "Store", created: bool) -> None:
        """An order was recorded (``created``) or changed state: plan or cancel what this automation does then."""

    # --- sending --------------------------------------------------------------------------------------------
    def stop_reason(self, message: "Message", cart: "Cart | None", customer: "Customer",
                    history: "History") -> str | None:
        """Why this message must not go out any more (a skip reason), or None. Checked at send time."""
        return None

    def channel_rules_apply(self, message: "Message") -> bool:
        """Whether the channel's consent and opt-out rules hold (False only for the keyword confirmations carriers
        require, which answer the shopper's own text, the STOP confirmation included)."""
        return True

    def quiet_hours_apply(self, message: "Message", now: datetime) -> bool:
        """Whether the store's quiet hours hold this message now."""
        return True

    def caps_apply(self, message: "Message") -> bool:
        """Whether the store's per-customer frequency caps hold this message (marketing: yes; transactional: no)."""
        return not self.transactional

    def template_key(self, position: int) -> str:
        """The template of step ``position`` (email_templates/<key>.html, sms_templates/<key>.txt)."""
        return f"{self.kind}/step{position}"

    def template_keys(self, positions: Iterable[int]) -> list[str]:
        return sorted({self.template_key(position) for position in positions})

    def message_template(self, message: "Message") -> tuple[str, str | None]:
        """The template key of this message and its own source, or None for the store's template of that key (its
        override, else the file default). Only a campaign's messages carry sources of their own."""
        return self.template_key(message.step.position if message.step else 1), None

    def coupon_for(self, message: "Message", store: "Store") -> "Coupon | None":
        """The coupon this message carries, minted now if it is the first message that needs it (so cancelled
        series leave no coupons behind). Called at send time for messages planned without one."""
        return None

    def template_vars(self, message: "Message", store: "Store") -> dict[str, Any]:
        """Merge variables beyond the common ones (``last_order``, ``days_since_last_order`` ...)."""
        return {}

    def sample_vars(self, store: "Store") -> dict[str, Any]:
        """The same variables with sample values, for previews and for checking an edited template."""
        return {}
