"""Request and response schemas of the storefront API; the OpenAPI document is generated from these."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, pre_load, validate

from retainful.api.fields import Birthday, Currency, Day, Email, Identifier, Instant, Money, StrictBoolean
from retainful.channels import names
from retainful.models import CartStatus
from retainful.models.conversation import REASONS

MAX_ITEMS = 500
TOKEN_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
_url = dict(validate=validate.Length(max=2048))


class Lenient(Schema):
    """Unknown fields are ignored, so newer plugins that send more keep working."""

    class Meta:
        unknown = EXCLUDE


def _text(max_length: int, **kwargs) -> fields.String:
    return fields.String(validate=validate.Length(max=max_length), allow_none=True, **kwargs)


class CustomerIn(Lenient):
    email = Email(allow_none=True)
    phone = _text(32)
    first_name = _text(100)
    last_name = _text(100)
    external_id = Identifier(allow_none=True)
    email_consent = fields.Boolean(allow_none=True)
    sms_consent = fields.Boolean(allow_none=True)
    locale = _text(16)
    birthday = Birthday(allow_none=True)


SOURCE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"


class SubscriberIn(CustomerIn):
    """A sign-up form: the customer fields (``email`` and/or ``phone``) and the form it came from."""

    source = fields.String(load_default="api", validate=validate.Regexp(
        SOURCE_PATTERN, error="A label such as popup or footer_form: lower-case letters, digits, '_' or '-'."),
        metadata={"example": "popup"})


class CartItemIn(Lenient):
    product_id = Identifier(required=True)
    variant_id = Identifier(allow_none=True)
    sku = _text(100)
    name = fields.String(required=True, validate=validate.Length(min=1, max=300))
    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=100_000))
    price = Money(required=True)
    image_url = fields.URL(allow_none=True, **_url)
    product_url = fields.URL(allow_none=True, **_url)


class CartIn(Lenient):
    customer = fields.Nested(CustomerIn, allow_none=True)
    currency = Currency(required=True)
    items = fields.List(
        fields.Nested(CartItemIn),
        required=True,
        validate=validate.Length(min=1, max=MAX_ITEMS, error="Between 1 and 500 items; report an empty cart with DELETE."),
    )
    subtotal = Money(required=True)
    total = Money(required=True)
    recovery_url = fields.URL(allow_none=True, schemes={"http", "https"}, **_url)


class TrackingIn(Lenient):
    """One shipment: the carrier's name, the tracking number, the carrier's tracking link, the day it shipped."""

    carrier = _text(100)
    number = fields.String(required=True, validate=validate.Length(min=1, max=100))
    url = fields.URL(allow_none=True, schemes={"http", "https"}, **_url)
    shipped_on = Day(allow_none=True)


class OrderItemIn(Lenient):
    """One line of an order: which product, how many (replenishment reminders reorder that many)."""

    product_id = Identifier(required=True)
    variant_id = Identifier(allow_none=True)
    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=100_000))
    name = _text(300)


class OrderIn(Lenient):
    order_id = Identifier(required=True)
    cart_token = fields.String(allow_none=True, validate=validate.Regexp(TOKEN_PATTERN))
    customer = fields.Nested(CustomerIn, allow_none=True)
    total = Money(required=True)
    currency = Currency(required=True)
    status = fields.String(required=True, validate=validate.Length(min=1, max=32))
    coupon_codes = fields.List(fields.String(validate=validate.Length(min=1, max=64)), validate=validate.Length(max=20))
    created_at = Instant(allow_none=True)
    tracking = fields.List(fields.Nested(TrackingIn), allow_none=True, validate=validate.Length(max=20),
                           metadata={"description": "Shipment tracking; absent or null leaves what is stored."})
    items = fields.List(fields.Nested(OrderItemIn), allow_none=True, validate=validate.Length(max=MAX_ITEMS),
                        metadata={"description": "What was bought; absent: the lines of the order's cart."})

    @pre_load
    def _normalise_status(self, data, **kwargs):
        """WooCommerce reports "wc-processing" in some places and "processing" in others."""
        status = data.get("status") if isinstance(data, dict) else None
        if isinstance(status, str):
            data = {**data, "status": status.strip().lower().removeprefix("wc-")}
        return data


class PluginEnvelopeIn(Lenient):
    """What a Retainful plugin plaintext is (retainful/plugin/payloads.py reads the rest as a CartIn or OrderIn)."""

    cart_type = fields.String(required=True, validate=validate.OneOf(["cart", "order"]))
    cart_token = fields.String(required=True, validate=validate.Regexp(TOKEN_PATTERN))
    updated_at = Instant(allow_none=True)
    completed_at = Instant(allow_none=True)
    order_status = fields.String(allow_none=True, validate=validate.Length(min=1, max=32))
    treat_on_hold_as_complete = fields.Boolean()


def _nullable(field_class=fields.String, **kwargs) -> fields.Field:
    """An answer's field that is null when the shop never sent it (the document must say so)."""
    return field_class(allow_none=True, **kwargs)


class CustomerOut(Schema):
    external_id = _nullable()
    email = _nullable()
    phone = _nullable()
    first_name = _nullable()
    last_name = _nullable()
    locale = _nullable()
    email_consent = _nullable(fields.Boolean)
    sms_consent = _nullable(fields.Boolean)
    birthday = _nullable(metadata={"description": "MM-DD or YYYY-MM-DD."})


class SubscriberOut(CustomerOut):
    subscribed_at = fields.AwareDateTime(metadata={"description": "When they first subscribed."})


class CartItemOut(Schema):
    product_id = fields.String()
    variant_id = _nullable()
    sku = _nullable()
    name = fields.String()
    quantity = fields.Integer()
    price = Money()
    image_url = _nullable()
    product_url = _nullable()


class CartOut(Schema):
    token = fields.String()
    status = fields.String(metadata={"enum": list(CartStatus.ALL)})
    is_guest = fields.Boolean()
    reachable = fields.Boolean(metadata={"description": "The cart has an email or phone to send recovery to."})
    item_count = fields.Integer()
    subtotal = Money()
    total = Money()
    currency = fields.String()
    recovery_url = _nullable()
    customer = fields.Nested(CustomerOut, allow_none=True)
    items = fields.List(fields.Nested(CartItemOut))
    last_activity_at = fields.AwareDateTime()
    abandoned_at = _nullable(fields.AwareDateTime)
    created_at = fields.AwareDateTime()


class TrackingOut(Schema):
    carrier = _nullable()
    number = fields.String()
    url = _nullable()
    shipped_on = _nullable(metadata={"description": "YYYY-MM-DD"})


class OrderItemOut(Schema):
    product_id = fields.String()
    variant_id = _nullable()
    quantity = fields.Integer()
    name = _nullable()


class OrderOut(Schema):
    order_id = fields.String(attribute="external_id")
    status = fields.String()
    total = Money()
    currency = fields.String()
    coupon_codes = fields.List(fields.String())
    cart_token = fields.Function(lambda order: order.cart.token if order.cart else None,
                                 metadata={"type": "string", "nullable": True})
    cart_status = fields.Function(lambda order: order.cart.status if order.cart else None,
                                  metadata={"type": "string", "nullable": True})
    recovered = fields.Function(
        lambda order: order.attributed_message_id is not None or order.conversation_id is not None,
        metadata={"type": "boolean"})
    attributed_message_id = _nullable(fields.Integer)
    attribution_rule = _nullable()
    customer = fields.Nested(CustomerOut, allow_none=True)
    placed_at = fields.AwareDateTime()
    received_at = fields.AwareDateTime()
    completed_at = _nullable(fields.AwareDateTime, metadata={"description": "When it first reached completed."})
    tracking = fields.List(fields.Nested(TrackingOut), allow_none=True)
    items = fields.List(fields.Nested(OrderItemOut), attribute="lines")


class ProductIn(Lenient):
    """A product's name and, for replenishment reminders, how many days one lasts (null: no reminder)."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=300))
    replenish_after_days = fields.Integer(required=True, allow_none=True, strict=True,
                                          validate=validate.Range(min=1, max=365),
                                          metadata={"description": "Days after an order of it that the "
                                                                   "replenishment reminder comes; null for none."})


class ProductOut(Schema):
    product_id = fields.String()
    name = fields.String()
    replenish_after_days = _nullable(fields.Integer)
    updated_at = fields.AwareDateTime()


class ErrorBody(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    fields_ = fields.Dict(
        data_key="fields", keys=fields.String(), values=fields.List(fields.String()), metadata={"example": {
            "items.0.quantity": ["Must be greater than or equal to 1."]}}
    )


class Error(Schema):
    error = fields.Nested(ErrorBody, required=True)


class Health(Schema):
    status = fields.String(metadata={"enum": ["ok", "unavailable"]})


class ReadinessChecks(Schema):
    database = fields.String(required=True, metadata={"description": "ok, or unavailable"})
    migrations = fields.String(required=True, metadata={"description": "ok, or what the schema is at"})
    worker = fields.String(required=True, metadata={"description": "ok, or how old the freshest heartbeat is"})


class Readiness(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok", "unavailable"]})
    checks = fields.Nested(ReadinessChecks, required=True)


TEMPLATE_KEY = r"^[a-z_]{1,32}/[a-z0-9_]{1,32}(\.[a-z]{2,3}(_[A-Z]{2})?)?$"  # and a locale variant: ….ko
MAX_TEMPLATE_SOURCE = 100_000


class TemplateIn(Lenient):
    source = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEMPLATE_SOURCE))


class TemplatePreviewIn(Lenient):
    channel = fields.String(required=True, validate=validate.OneOf(names()))
    template = fields.String(required=True, validate=validate.Regexp(
        TEMPLATE_KEY, error="A key such as abandoned_cart/step1 or abandoned_cart/step1.ko."))
    source = fields.String(allow_none=True, validate=validate.Length(min=1, max=MAX_TEMPLATE_SOURCE))
    cart_token = fields.String(allow_none=True, validate=validate.Regexp(TOKEN_PATTERN))


class TemplateTestSendIn(TemplatePreviewIn):
    to = fields.String(required=True, validate=validate.Length(min=3, max=254))


class TemplateVersionOut(Schema):
    channel = fields.String()
    key = fields.String()
    version = fields.Integer()
    is_default = fields.Function(lambda v: v.source is None, metadata={"type": "boolean"})
    source = _nullable(metadata={"description": "null: the file default."})
    author = _nullable()
    created_at = fields.AwareDateTime()


class CouponCheckIn(Lenient):
    email = fields.String(load_default=None, validate=validate.Length(max=254))
    subtotal = Money(load_default=None)


class CouponRedeemIn(Lenient):
    order_id = Identifier(required=True)
    email = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=254))


class CouponOut(Schema):
    code = fields.String()
    kind = fields.String()
    discount_type = fields.String(metadata={"enum": ["percent", "fixed", "free_shipping"]})
    amount = fields.Function(lambda c: format(c.amount.normalize(), "f"), metadata={"type": "string"})
    currency = fields.String()
    minimum_total = Money(allow_none=True)
    expires_at = fields.AwareDateTime()
    usage_limit = fields.Integer()
    usage_count = fields.Integer()
    sync_state = fields.String()


class CouponCheckOut(Schema):  # for the OpenAPI document
    coupon = fields.Nested(CouponOut)
    valid = fields.Boolean()
    reason = fields.String(allow_none=True, metadata={"enum": ["expired", "used_up", "wrong_customer",
                                                               "below_minimum", None]})
    discount = fields.String(metadata={"description": "Decimal string to take off the subtotal (0 when invalid)."})
    free_shipping = fields.Boolean()


class CouponRedemptionOut(Schema):  # for the OpenAPI document
    coupon = fields.Nested(CouponOut)
    order_id = fields.String()
    redeemed_at = fields.AwareDateTime()


# --- report documents (for the OpenAPI document; amounts are decimal strings in the store's currency) ---------------

def _amount(description: str = "", **kwargs) -> fields.String:
    return fields.String(metadata={"description": description or "Decimal string in the store's currency."}, **kwargs)


def _rate(description: str, **kwargs) -> fields.Float:
    return fields.Float(metadata={"description": description}, **kwargs)


class SummaryReport(Schema):
    from_ = fields.Date(data_key="from")
    to = fields.Date()
    currency = fields.String()
    carts_created = fields.Integer()
    abandoned = fields.Integer(metadata={"description": "Carts abandoned in the period (control group included)."})
    reachable = fields.Integer(metadata={"description": "Abandoned carts with an email or phone (holdout excluded)."})
    messaged = fields.Integer()
    clicked = fields.Integer()
    recovered = fields.Integer()
    recovered_revenue = _amount("Real order totals of recovered carts; refunds and cancellations taken back.")
    captured_cart_value = _amount("The recovered carts' value when they were abandoned.")
    converted = fields.Integer(metadata={"description": "Ordered without a recovery message (kept in denominators)."})
    lost = fields.Integer()
    lost_value = _amount()
    recovery_rate = _rate("recovered / reachable, 0-1.")
    messages_sent = fields.Integer()
    revenue_per_message = _amount()


class FunnelStep(Schema):
    automation = fields.String(metadata={"description": "The automation of the row (the funnel follows the "
                                                        "abandoned-cart cohort)."})
    step = fields.Integer()
    channel = fields.String()
    planned = fields.Integer()
    sent = fields.Integer()
    skipped = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={"description": "By reason."})
    failed = fields.Integer()
    cancelled = fields.Integer()
    opened = fields.Integer()
    clicked = fields.Integer()
    recovered = fields.Integer()
    recovered_revenue = _amount()


class FunnelReport(Schema):
    from_ = fields.Date(data_key="from")
    to = fields.Date()
    steps = fields.List(fields.Nested(FunnelStep))


class CouponKindReport(Schema):
    issued = fields.Integer()
    redeemed = fields.Integer()
    redemption_rate = _rate("redeemed / issued, 0-1.")
    orders = fields.Integer()
    revenue = _amount("Orders that used these coupons.")


class CouponReport(Schema):
    recovery = fields.Nested(CouponKindReport)
    next_order = fields.Nested(CouponKindReport)
    win_back = fields.Nested(CouponKindReport)
    currency = fields.String()


class BeforeAfterWindow(Schema):
    from_ = fields.Date(data_key="from")
    to = fields.Date()
    orders = fields.Integer()
    revenue = _amount()
    average_order_value = _amount()
    abandonment_rate = _rate("Abandoned / created carts, 0-1.")
    recovered_revenue = _amount()
    recovered_share = _rate("Recovered revenue / revenue, 0-1.")


class BeforeAfterReport(Schema):
    split_at = fields.DateTime(metadata={"description": "When recovery was switched on."})
    window_days = fields.Integer()
    currency = fields.String()
    enough_history = fields.Boolean()
    note = fields.String(allow_none=True, metadata={"description": "Why there is no comparison, when there is none."})
    before = fields.Nested(BeforeAfterWindow, allow_none=True)
    after = fields.Nested(BeforeAfterWindow)
    change = fields.Dict(keys=fields.String(), values=fields.Float(allow_none=True), allow_none=True,
                         metadata={"description": "Percent change per figure; null where 'before' is zero, and null as a "
                                                 "whole when there is too little history to compare."})
    daily = fields.List(fields.Dict(), metadata={"description": "date, revenue, recovered_revenue, orders."})


class HoldoutGroup(Schema):
    carts = fields.Integer()
    ordered = fields.Integer()
    rate = _rate("ordered / carts, 0-1.")
    revenue = _amount()


class HoldoutReport(Schema):
    holdout_percent = fields.Integer()
    currency = fields.String()
    messaged = fields.Nested(HoldoutGroup)
    control = fields.Nested(HoldoutGroup)
    lift = _rate("Messaged rate minus control rate; null when a group is empty.", allow_none=True)
    ci95 = fields.List(fields.Float(), allow_none=True,
                       metadata={"description": "95% confidence interval of the lift."})
    p_value = _rate("Two-proportion z-test.", allow_none=True)
    significant = fields.Boolean(allow_none=True)
    incremental_revenue = _amount("Lift x messaged carts x average recovered order.", allow_none=True)
    note = fields.String(allow_none=True, metadata={"description": "Set when the sample is too small."})


# --- automations (retainful/automations/) ---------------------------------------------------------------------------

DELAY_PATTERN = r"^\d{1,6}[mhdw]?$"


class StepCouponIn(Lenient):
    type = fields.String(required=True, validate=validate.OneOf(("percent", "fixed", "free_shipping")))
    amount = Money(allow_none=True, load_default=None)
    minimum = Money(allow_none=True, load_default=None)
    valid_hours = fields.Integer(strict=True, load_default=48, validate=validate.Range(min=1, max=24 * 90))


class AutomationStepIn(Lenient):
    position = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=100))
    delay = fields.String(required=True, validate=validate.Regexp(DELAY_PATTERN, error="Use 30m, 6h, 2d or 1w."),
                          metadata={"description": "After the trigger: minutes (m), hours (h), days (d), weeks (w)."})
    at_hour = fields.Integer(required=True, allow_none=True, strict=True, validate=validate.Range(min=0, max=23),
                             metadata={"description": "Send at this hour of the recipient's local day; null: at the "
                                                      "delay itself."})
    channels = fields.List(fields.String(validate=validate.OneOf(names())), required=True,
                           validate=validate.Length(max=len(names())))
    coupon = fields.Nested(StepCouponIn, required=True, allow_none=True)
    enabled = StrictBoolean(required=True)


class AutomationIn(Lenient):
    """The shape of GET, so a client can PUT back what it read (read-only fields are ignored)."""

    kind = fields.String(validate=validate.Length(max=32), metadata={"description": "Must match the path if given."})
    enabled = StrictBoolean(required=True)
    steps = fields.List(fields.Nested(AutomationStepIn), required=True, validate=validate.Length(max=100))


class StepCouponOut(Schema):
    type = fields.String()
    amount = fields.String(allow_none=True)
    minimum = fields.String(allow_none=True)
    valid_hours = fields.Integer()


class AutomationStepOut(Schema):
    position = fields.Integer()
    delay = fields.String()
    at_hour = fields.Integer(allow_none=True)
    channels = fields.List(fields.String())
    coupon = fields.Nested(StepCouponOut, allow_none=True)
    enabled = fields.Boolean()
    template = fields.String(metadata={"description": "The template key of this step's email and SMS."})


class AutomationOut(Schema):
    kind = fields.String()
    title = fields.String()
    enabled = fields.Boolean()
    transactional = fields.Boolean(metadata={"description": "Exempt from the per-customer marketing caps."})
    counts_as_recovered = fields.Boolean(metadata={"description": "Its credited orders count as recovered revenue."})
    steps = fields.List(fields.Nested(AutomationStepOut))


class AutomationList(Schema):
    automations = fields.List(fields.Nested(AutomationOut))


class AutomationKindReport(Schema):
    kind = fields.String()
    sent = fields.Integer()
    clicked = fields.Integer()
    orders = fields.Integer(metadata={"description": "Orders credited to its messages within the attribution window."})
    revenue = _amount("Their revenue (total less refunds; voided orders left out).")
    counts_as_recovered = fields.Boolean()
    unsubscribes = fields.Integer(metadata={"description": "Unsubscribes and SMS opt-outs right after its messages."})


class PeriodReport(Schema):
    """What every report over a period starts with."""

    from_ = fields.Date(data_key="from")
    to = fields.Date()
    currency = fields.String()


class AutomationsReport(PeriodReport):
    automations = fields.List(fields.Nested(AutomationKindReport))


class ConversationReplyIn(Lenient):
    text = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    agent_name = _text(100, metadata={"description": "Shown as the author; default the store's persona."})


class ConversationReasonIn(Lenient):
    reason = fields.String(required=True, allow_none=True, validate=validate.OneOf(REASONS),
                           metadata={"description": "The confirmed abandonment reason; null clears it."})


class MessageDeliveryOut(Schema):
    status = fields.String(metadata={"description": "scheduled, sending, sent, failed, cancelled, skipped"})
    skip_reason = fields.String(allow_none=True, metadata={"description": "Why it was skipped (opted out ...)."})


class ConversationMessageOut(Schema):
    id = fields.Integer()
    direction = fields.String(metadata={"enum": ["inbound", "outbound"]})
    channel = fields.String(metadata={"enum": ["sms", "email"]})
    text = fields.String()
    at = fields.DateTime()
    author = fields.String(allow_none=True, metadata={"description": "The persona or agent of an outbound message."})
    keyword = fields.String(allow_none=True, metadata={"description": "opt_out, opt_in, help: the keyword it was."})
    opt_out_flagged = fields.Boolean(metadata={"description": "An opt-out inside a longer text (FCC 2024 rule)."})
    outbox_message_id = fields.Integer(allow_none=True)
    delivery = fields.Nested(MessageDeliveryOut, allow_none=True,
                             metadata={"description": "An outbound message's outbox state; null for inbound."})


class ConversationOut(Schema):
    id = fields.Integer()
    customer_id = fields.Integer()
    cart_id = fields.Integer(allow_none=True)
    status = fields.String(metadata={"enum": ["open", "closed"]})
    channel = fields.String()
    assigned_user_id = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True, metadata={"enum": list(REASONS)})
    suggested_reason = fields.String(allow_none=True, metadata={"description": "The keyword classifier's guess."})
    opt_out_flagged = fields.Boolean()
    unread_count = fields.Integer()
    opened_at = fields.DateTime()
    last_inbound_at = fields.DateTime(allow_none=True)
    last_outbound_at = fields.DateTime(allow_none=True)
    first_response_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    messages = fields.List(fields.Nested(ConversationMessageOut), metadata={"description": "In order; GET one only."})


class ConversationList(Schema):
    conversations = fields.List(fields.Nested(ConversationOut))


class ConversationsReport(PeriodReport):
    opened = fields.Integer(metadata={"description": "Conversations opened in the period."})
    replied = fields.Integer(metadata={"description": "Of those, answered by a person."})
    median_first_response_seconds = fields.Integer(allow_none=True,
                                                   metadata={"description": "From opening to the first answer."})
    converted = fields.Integer(metadata={"description": "Of those, credited with an order (rule conversation: within "
                                                        "7 days of the shopper's message), not voided."})
    revenue = _amount("Those orders' revenue (total less refunds); recovered revenue.")


class ReasonRow(Schema):
    reason = fields.String(metadata={"enum": list(REASONS)})
    carts = fields.Integer(metadata={"description": "Carts of the conversations with this reason (the agent's, else "
                                                    "the suggestion)."})
    recovered = fields.Integer()
    recovered_share = _rate("recovered / carts, 0-1.")
    confirmed = fields.Integer(metadata={"description": "Conversations whose reason an agent set."})


class ReasonsReport(PeriodReport):
    reasons = fields.List(fields.Nested(ReasonRow))
    unclassified = fields.Integer(metadata={"description": "Conversations with no reason and no suggestion."})


# --- campaigns (retainful/campaigns/) -------------------------------------------------------------------------------

class CampaignSourceIn(Schema):
    """A campaign's own template: an email's subject, html (the layout's content block) and optional preheader, or
    an SMS's text; Jinja with the merge variables of every template (and ``campaign.name``)."""

    subject = fields.String(validate=validate.Length(min=1, max=1000))
    preheader = fields.String(validate=validate.Length(max=1000))
    html = fields.String(validate=validate.Length(min=1, max=MAX_TEMPLATE_SOURCE))
    text = fields.String(validate=validate.Length(min=1, max=5000))


class CampaignTemplateIn(Schema):
    """Either ``key`` (one of the store's templates, e.g. campaign/news) or ``source``."""

    key = fields.String(validate=validate.Regexp(TEMPLATE_KEY, error="A key such as campaign/news."))
    source = fields.Nested(CampaignSourceIn)


CampaignTemplatesIn = Schema.from_dict({name: fields.Nested(CampaignTemplateIn) for name in names()},
                                       name="CampaignTemplatesIn")


class CampaignIn(Lenient):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    channels = fields.List(fields.String(validate=validate.OneOf(names())), required=True,
                           validate=validate.Length(min=1, max=len(names())))
    templates = fields.Nested(CampaignTemplatesIn, load_default=dict, metadata={
        "description": "Per channel; a channel left out uses campaign/news."})
    coupon = fields.Nested(StepCouponIn, allow_none=True, load_default=None)
    segment = fields.Dict(load_default=dict, metadata={
        "description": "Filters (SegmentIn), all optional; consent on each chosen channel always applies."})
    send_at = fields.DateTime(allow_none=True, load_default=None, metadata={
        "description": "Store-local ISO time (an offset given is honoured); null or absent: a draft.",
        "example": "2026-12-24T10:00:00"})
    local_time = StrictBoolean(load_default=False, metadata={
        "description": "true: send_at is each recipient's own clock time (their phone's zone, else their locale's, "
                       "else the store's)."})
    frequency_cap = StrictBoolean(load_default=False, metadata={
        "description": "true: the store's per-customer frequency caps hold its messages."})


class CampaignScheduleIn(Lenient):
    send_at = fields.DateTime(required=True, metadata={"example": "2026-12-24T10:00:00"})
    local_time = StrictBoolean(load_default=False)


class SegmentPreviewIn(Lenient):
    channels = fields.List(fields.String(validate=validate.OneOf(names())), required=True,
                           validate=validate.Length(min=1, max=len(names())))
    segment = fields.Dict(load_default=dict, metadata={"description": "Filters (SegmentIn)."})


class SegmentSampleOut(Schema):
    id = fields.Integer()
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    first_name = fields.String(allow_none=True)
    country = fields.String(allow_none=True)
    locale = fields.String(allow_none=True)


class SegmentPreviewOut(Schema):
    count = fields.Integer(metadata={"description": "Customers the segment holds now."})
    sample = fields.List(fields.Nested(SegmentSampleOut), metadata={"description": "Up to 10, newest first."})


class CampaignOut(Schema):
    id = fields.Integer()
    name = fields.String()
    state = fields.String(metadata={"enum": ["draft", "scheduled", "sending", "sent", "cancelled"]})
    channels = fields.List(fields.String())
    templates = fields.Dict()
    segment = fields.Dict()
    coupon = fields.Nested(StepCouponOut, allow_none=True)
    send_at = fields.DateTime(allow_none=True, metadata={"description": "The instant (UTC)."})
    send_at_local = fields.String(allow_none=True, metadata={"description": "The wall-clock time asked for."})
    local_time = fields.Boolean()
    frequency_cap = fields.Boolean()
    recipient_count = fields.Integer(metadata={"description": "Before sending: the segment now; then: enqueued."})
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    cancelled_at = fields.DateTime(allow_none=True)


class CampaignResults(CampaignOut):
    scheduled = fields.Integer(metadata={"description": "Messages not sent yet (scheduled or being sent)."})
    sent = fields.Integer()
    failed = fields.Integer()
    cancelled = fields.Integer()
    skipped = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={
        "description": "Skip reason -> messages (unsubscribed, quiet hours never end, frequency_cap ...)."})
    opened = fields.Integer()
    clicked = fields.Integer()
    orders_credited = fields.Integer()
    revenue = _amount("Their revenue (total less refunds; voided orders left out), in currency.")
    currency = fields.String()
    unsubscribes = fields.Integer(metadata={"description": "Recipients who unsubscribed or texted STOP after one "
                                                           "of its messages reached them."})


class CampaignList(Schema):
    campaigns = fields.List(fields.Nested(CampaignOut))


class CampaignCancelled(Schema):
    campaign = fields.Nested(CampaignOut)
    cancelled = fields.Integer(metadata={"description": "Messages that will not be sent."})


# -- experiments ----------------------------------------------------------------------------------------------------

class ExperimentSubjectIn(Lenient):
    """An automation step (automation and step) or a draft or scheduled campaign (campaign)."""

    automation = fields.String(validate=validate.Length(min=1, max=32),
                               metadata={"description": "The automation's kind, e.g. abandoned_cart."})
    step = fields.Integer(strict=True, validate=validate.Range(min=1, max=100),
                          metadata={"description": "The step's position."})
    campaign = fields.Integer(strict=True, validate=validate.Range(min=1, max=2 ** 31 - 1),
                              metadata={"description": "A campaign's id."})


class VariantTemplateIn(Lenient):
    key = fields.String(validate=validate.Length(min=1, max=64),
                        metadata={"description": "Another template of the channel (e.g. abandoned_cart/step2)."})
    source = fields.Raw(metadata={"description": "An automation step's: the template's text (it must render like a "
                                                 "saved one). A campaign's: its template shape, {subject, html, "
                                                 "preheader} for email, {text} for SMS."})


class VariantIn(Lenient):
    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    weight = fields.Integer(load_default=1, strict=True, validate=validate.Range(min=1, max=100),
                            metadata={"description": "Its share of the traffic relative to the others' (default 1)."})
    templates = fields.Dict(keys=fields.String(validate=validate.OneOf(names())),
                            values=fields.Nested(VariantTemplateIn), load_default=dict,
                            metadata={"description": "Per channel; a channel left out keeps the step's template "
                                                     "(the control usually has none)."})


class ExperimentIn(Lenient):
    subject = fields.Nested(ExperimentSubjectIn, required=True)
    variants = fields.List(fields.Nested(VariantIn), required=True, validate=validate.Length(min=2, max=4),
                           metadata={"description": "2 to 4; the first is the control."})
    metric = fields.String(load_default="orders", validate=validate.OneOf(["orders", "clicked"]),
                           metadata={"description": "What the winner must beat the others at, per recipient."})
    auto_apply = StrictBoolean(load_default=False,
                               metadata={"description": "Apply the winner's templates to the step once decided."})


class VariantOut(Schema):
    id = fields.Integer()
    name = fields.String()
    weight = fields.Integer()
    control = fields.Boolean()
    templates = fields.Dict()
    sent = fields.Integer(metadata={"description": "Recipients sent this variant."})
    opened = fields.Integer(metadata={"description": "Of them, opened an email."})
    clicked = fields.Integer()
    orders = fields.Integer(metadata={"description": "Recipients with an order credited to the step."})
    revenue = _amount("Their orders' revenue (total less refunds).")
    rate = _rate("The metric per recipient, 0-1.")
    revenue_per_recipient = _amount()
    revenue_interval = fields.List(fields.String(), metadata={"description": "95% credible interval [low, high]."})
    probability_best = _rate("Posterior probability its rate is the highest (Beta(1+s, 1+f), Monte Carlo).")
    interval = fields.List(fields.Float(), metadata={"description": "95% credible interval of its rate [low, high]."})


class ExperimentDecisionOut(Schema):
    winner = fields.String(allow_none=True, metadata={"description": "The winning variant's name."})
    decided_at = fields.DateTime(allow_none=True)
    rule = fields.String(allow_none=True)
    p_value = fields.Float(allow_none=True, metadata={"description": "The winner's weakest always-valid p-value."})
    applied = fields.Boolean()
    applied_at = fields.DateTime(allow_none=True)


class ExperimentCurrentOut(Schema):
    leader_p_value = fields.Float(metadata={"description": "The leading variant's weakest always-valid p-value now."})
    threshold = fields.Float(metadata={"description": "What it must fall below: 0.05 over the number of pairs."})
    min_recipients = fields.Integer(metadata={"description": "Per variant, before any decision."})


class ExperimentSubjectOut(Schema):
    automation = fields.String()
    step = fields.Integer()
    campaign = fields.Integer()


class ExperimentOut(Schema):
    id = fields.Integer()
    subject = fields.Nested(ExperimentSubjectOut)
    metric = fields.String(metadata={"enum": ["orders", "clicked"]})
    state = fields.String(metadata={"enum": ["running", "decided", "stopped"]})
    auto_apply = fields.Boolean()
    created_at = fields.DateTime()
    stopped_at = fields.DateTime(allow_none=True)
    variants = fields.List(fields.Nested(VariantOut))
    current = fields.Nested(ExperimentCurrentOut)
    decision = fields.Nested(ExperimentDecisionOut)


class ExperimentList(Schema):
    experiments = fields.List(fields.Nested(ExperimentOut))
