"""The OpenAPI 3 document, generated from the same marshmallow schemas the views validate and dump with."""
from __future__ import annotations

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import current_app, jsonify

from retainful.api import schemas
from retainful.api.fields import MONEY_PATTERN
from retainful.api.schemas import TOKEN_PATTERN
from retainful.products import PRODUCT_ID_PATTERN
from retainful.channels import names
from retainful.reports.period import MAX_DAYS
from retainful.urls import public_urls
from retainful.api.views import bp
from retainful.automations.registry import kinds
from retainful.campaigns.segment import SegmentSchema

_ERRORS = {
    "400": "Invalid fields (named in error.fields).",
    "401": "Missing or wrong API key.",
    "413": "Body over 256 KiB.",
    "415": "Body is not JSON.",
    "503": "The database is busy or unavailable: retry after Retry-After seconds.",
}


def _responses(ok: dict, *errors: str) -> dict:
    """``ok`` plus the errors; every operation can answer 400 (a NUL or lone surrogate in a path segment or query)."""
    responses = dict(ok)
    for status in sorted({"400", *errors, "503"}):  # any call: a busy database, an unstorable string
        responses[status] = {"description": _ERRORS.get(status, "Not found."), "content": _json("Error")}
    return responses


def _json(schema: str) -> dict:
    return {"application/json": {"schema": schema}}


def build_spec(server_url: str) -> dict:
    spec = APISpec(
        title="Retainful storefront API",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        servers=[{"url": server_url}],
        security=[{"storeKey": []}],
    )
    spec.components.security_scheme("storeKey", {"type": "http", "scheme": "bearer"})
    for name in ("CartIn", "CartOut", "OrderIn", "OrderOut", "Error", "Health", "TemplateIn", "TemplatePreviewIn",
                 "TemplateTestSendIn", "TemplateVersionOut", "CouponCheckIn", "CouponRedeemIn", "CouponOut",
                 "CouponCheckOut", "CouponRedemptionOut", "SummaryReport", "Readiness",
                 "FunnelReport", "CouponReport", "BeforeAfterReport", "HoldoutReport", "AutomationIn",
                 "AutomationOut", "AutomationList", "AutomationsReport", "ConversationReplyIn", "ConversationReasonIn",
                 "ConversationMessageOut", "ConversationOut", "ConversationList", "ConversationsReport",
                 "ReasonsReport", "SubscriberIn", "SubscriberOut", "ProductIn", "ProductOut",
                 "CampaignIn", "CampaignScheduleIn", "CampaignOut", "CampaignResults", "CampaignList", "CampaignCancelled", "SegmentPreviewIn", "SegmentPreviewOut",
                 "ExperimentIn", "ExperimentOut", "ExperimentList"):
        spec.components.schema(name, schema=getattr(schemas, name))
    spec.components.schema("SegmentIn", schema=SegmentSchema)
    token = {"name": "token", "in": "path", "required": True, "schema": {"type": "string", "pattern": TOKEN_PATTERN}}
    spec.path(
        path="/api/v1/carts/{token}",
        parameters=[token],
        operations={
            "put": {
                "summary": "Report the whole cart (create or replace; idempotent).",
                "requestBody": {"required": True, "content": _json("CartIn")},
                "responses": _responses(
                    {"200": {"description": "Replaced.", "content": _json("CartOut")},
                     "201": {"description": "Created.", "content": _json("CartOut")}},
                    "400", "401", "413", "415"),
            },
            "get": {
                "summary": "The cart with its items.",
                "responses": _responses({"200": {"description": "The cart.", "content": _json("CartOut")}}, "401",
                                        "404"),
            },
            "delete": {
                "summary": "The shopper emptied the cart: nothing more is sent for it.",
                "responses": _responses({"204": {"description": "Deleted."}}, "401", "404"),
            },
        },
    )
    spec.path(
        path="/api/v1/orders",
        operations={
            "post": {
                "summary": "An order was placed (idempotent by order_id); closes the cart.",
                "requestBody": {"required": True, "content": _json("OrderIn")},
                "responses": _responses(
                    {"200": {"description": "Already recorded; nothing changed.", "content": _json("OrderOut")},
                     "201": {"description": "Recorded.", "content": _json("OrderOut")}},
                    "400", "401", "413", "415"),
            }
        },
    )
    spec.path(
        path="/api/v1/subscribers",
        operations={"post": {
            "summary": "A shopper subscribed through a sign-up form (email and/or phone, consent, the form as source); "
                       "a known subscriber is matched, not subscribed again.",
            "requestBody": {"required": True, "content": _json("SubscriberIn")},
            "responses": _responses(
                {"200": {"description": "A known subscriber: contact data and consent updated.",
                         "content": _json("SubscriberOut")},
                 "201": {"description": "A new subscriber.", "content": _json("SubscriberOut")}},
                "400", "401", "413", "415"),
        }},
    )
    spec.path(
        path="/api/v1/orders/{order_id}",
        parameters=[{"name": "order_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        operations={"get": {"summary": "A recorded order.", "responses": _responses(
            {"200": {"description": "The order.", "content": _json("OrderOut")}}, "401", "404")}},
    )
    spec.path(
        path="/api/v1/products/{product_id}",
        parameters=[{"name": "product_id", "in": "path", "required": True,
                     "schema": {"type": "string", "pattern": PRODUCT_ID_PATTERN}}],
        operations={
            "put": {
                "summary": "Create or replace a product (name, replenish_after_days): the replenishment reminder "
                           "comes that many days after an order of it.",
                "requestBody": {"required": True, "content": _json("ProductIn")},
                "responses": _responses(
                    {"200": {"description": "Replaced.", "content": _json("ProductOut")},
                     "201": {"description": "Created.", "content": _json("ProductOut")}},
                    "400", "401", "413", "415"),
            },
            "get": {"summary": "A product.", "responses": _responses(
                {"200": {"description": "The product.", "content": _json("ProductOut")}}, "401", "404")},
        },
    )
    spec.path(
        path="/api/v1/webhooks/woocommerce/{store_id}",
        parameters=[{"name": "store_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
        operations={"post": {
            "summary": "A WooCommerce webhook delivery (order.created / updated / restored / deleted; other topics "
                       "are ignored). Authenticated by X-WC-Webhook-Signature (base64 HMAC-SHA256 of the body with the "
                       "store's webhook secret), not the API key; the unsigned webhook_id=<id> ping gets 200. A "
                       "delivery older than the order's date_modified_gmt, or a repeated X-WC-Webhook-Delivery-ID, "
                       "changes nothing.",
            "security": [],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "description": "A WooCommerce REST v3 order."}}}},
            "responses": {
                **_responses({"200": {"description": "Recorded (order_id, status, created), or ignored."}},
                             "400", "413", "415"),
                "401": {"description": "Bad or missing signature.", "content": _json("Error")},
                "404": {"description": "No such store.", "content": _json("Error")}},
        }},
    )
    _template_paths(spec)
    _coupon_paths(spec)
    _report_paths(spec)
    _automation_paths(spec)
    _campaign_paths(spec)
    _conversation_paths(spec)
    _experiment_paths(spec)
    spec.path(
        path="/healthz",
        operations={"get": {"summary": "Liveness with a database check.", "security": [], "responses": {
            "200": {"description": "Healthy.", "content": _json("Health")},
            "503": {"description": "Database unavailable.", "content": _json("Health")}}}},
    )
    spec.path(
        path="/readyz",
        operations={"get": {
            "summary": "Readiness: the database answers within a second, the schema is at the newest migration, and "
                       "a worker recorded a heartbeat in the last 60 s.",
            "security": [],
            "responses": {
                "200": {"description": "Ready.", "content": _json("Readiness")},
                "503": {"description": "Not ready: the checks say which part failed.",
                        "content": _json("Readiness")}}}},
    )
    spec.components.security_scheme("metricsToken", {"type": "http", "scheme": "bearer"})
    spec.path(
        path="/metrics",
        operations={"get": {
            "summary": "Prometheus metrics (text format 0.0.4). With METRICS_TOKEN set, 'Authorization: Bearer "
                       "<METRICS_TOKEN>' is required; unset, loopback clients only.",
            "security": [{"metricsToken": []}, {}], "responses": {
                **_responses({"200": {"description": "The metrics.",
                                      "content": {"text/plain": {"schema": {"type": "string"}}}}}),
                "401": {"description": "METRICS_TOKEN is set and was not sent.", "content": _json("Error")},
                "403": {"description": "No METRICS_TOKEN, and the client is not loopback.",
                        "content": _json("Error")}}}},
    )
    return spec.to_dict()


def _report_paths(spec: APISpec) -> None:
    period = [{"name": "from", "in": "query", "schema": {"type": "string", "format": "date"},
               "description": "Store-local date, inclusive."},
              {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"},
               "description": "Store-local date, inclusive (default today)."},
              {"name": "days", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_DAYS},
               "description": "The last N days (default 30) when from/to are not both given."}]
    window = {"name": "days", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 365},
              "description": "Days in each window (default 30)."}
    for path, schema, summary in (("summary", "SummaryReport", "Carts, reach, messages, recovered revenue, rate."),
                                  ("funnel", "FunnelReport", "Per step and channel."),
                                  ("coupons", "CouponReport", "Recovery, next-order and win-back coupons."),
                                  ("holdout", "HoldoutReport", "Messaged vs control group: true lift."),
                                  ("automations", "AutomationsReport", "Per automation: sent, clicked, credited "
                                                                       "orders and revenue, unsubscribes."),
                                  ("conversations", "ConversationsReport", "Conversations opened: replied, median "
                                                                           "first response, converted, revenue."),
                                  ("reasons", "ReasonsReport", "Carts by abandonment reason, recovered share."),
                                  ("before-after", "BeforeAfterReport", "Equal windows around the switch-on.")):
        params = [window] if path == "before-after" else period
        spec.path(path=f"/api/v1/reports/{path}", operations={"get": {
            "summary": summary, "parameters": params,
            "responses": _responses({"200": {"description": summary, "content": _json(schema)}}, "400", "401")}})
    spec.path(path="/api/v1/reports/daily.csv", operations={"get": {
        "summary": "One row per store-local day, for a spreadsheet.", "parameters": period,
        "responses": _responses({"200": {"description": "CSV: date, carts_created, abandoned, orders, revenue, "
                                                        "recovered, recovered_revenue.",
                                         "content": {"text/csv": {"schema": {"type": "string"}}}}}, "400", "401")}})


def _automation_paths(spec: APISpec) -> None:
    kind = {"name": "kind", "in": "path", "required": True, "schema": {"type": "string", "enum": list(kinds())}}
    one = {"200": {"description": "The automation.", "content": _json("AutomationOut")}}
    spec.path(path="/api/v1/automations", operations={"get": {
        "summary": "Every automation with its state and steps.",
        "responses": _responses({"200": {"description": "The automations.", "content": _json("AutomationList")}},
                                "401")}})
    spec.path(path="/api/v1/automations/{kind}", parameters=[kind], operations={
        "get": {"summary": "One automation: enabled, and its steps (delay, local hour, channels, coupon).",
                "responses": _responses(one, "401", "404")},
        "put": {"summary": "Replace its state and steps (the shape of GET; steps are named by position, all checked "
                           "before any is saved).",
                "requestBody": {"required": True, "content": _json("AutomationIn")},
                "responses": _responses(one, "400", "401", "404", "413", "415")}})


def _campaign_paths(spec: APISpec) -> None:
    campaign_id = {"name": "campaign_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
    one = {"200": {"description": "The campaign.", "content": _json("CampaignOut")}}
    spec.path(path="/api/v1/campaigns", operations={
        "get": {"summary": "The store's campaigns, newest first.",
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                    {"name": "before_id", "in": "query", "schema": {"type": "integer", "minimum": 1},
                     "description": "The next page: campaigns with a lower id."}],
                "responses": _responses({"200": {"description": "The campaigns.", "content": _json("CampaignList")}},
                                        "401")},
        "post": {"summary": "Create a campaign: a draft, or scheduled when send_at is given. Template sources are "
                            "compiled and rendered with sample data first; segment filters are SegmentIn.",
                 "requestBody": {"required": True, "content": _json("CampaignIn")},
                 "responses": _responses({"201": {"description": "The campaign.", "content": _json("CampaignOut")}},
                                         "401", "413", "415")}})
    spec.path(path="/api/v1/campaigns/{campaign_id}", parameters=[campaign_id], operations={"get": {
        "summary": "One campaign with its results: state, recipient_count, sent, skipped by reason, opened, clicked, "
                   "orders_credited, revenue, unsubscribes.",
        "responses": _responses({"200": {"description": "The campaign and its results.",
                                         "content": _json("CampaignResults")}}, "401", "404")}})
    spec.path(path="/api/v1/campaigns/{campaign_id}/schedule", parameters=[campaign_id], operations={"post": {
        "summary": "Set or move the send time of a draft or scheduled campaign.",
        "requestBody": {"required": True, "content": _json("CampaignScheduleIn")},
        "responses": _responses(one, "401", "404", "413", "415")}})
    spec.path(path="/api/v1/campaigns/{campaign_id}/cancel", parameters=[campaign_id], operations={"post": {
        "summary": "Cancel what is not sent yet.",
        "responses": {**_responses({"200": {"description": "The campaign and the messages cancelled.",
                                            "content": _json("CampaignCancelled")}}, "401", "404"),
                      "409": {"description": "Already sent or cancelled.", "content": _json("Error")}}}})
    spec.path(path="/api/v1/campaigns/preview-segment", operations={"post": {
        "summary": "How many customers a segment holds now (consent on the channels applied), and a sample.",
        "requestBody": {"required": True, "content": _json("SegmentPreviewIn")},
        "responses": _responses({"200": {"description": "The count and sample.",
                                         "content": _json("SegmentPreviewOut")}}, "401", "413", "415")}})


def _conversation_paths(spec: APISpec) -> None:
    conversation_id = {"name": "conversation_id", "in": "path", "required": True,
                       "schema": {"type": "integer", "minimum": 1}}
    one = {"200": {"description": "The conversation.", "content": _json("ConversationOut")}}
    spec.path(path="/api/v1/conversations", operations={"get": {
        "summary": "The store's conversations, newest shopper message first (without messages).",
        "parameters": [
            {"name": "status", "in": "query", "schema": {"type": "string", "enum": ["open", "closed"]}},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
            {"name": "before_id", "in": "query", "schema": {"type": "integer", "minimum": 1},
             "description": "The next page: conversations with a lower id."}],
        "responses": _responses({"200": {"description": "The conversations.", "content": _json("ConversationList")}},
                                "400", "401")}})
    spec.path(path="/api/v1/conversations/{conversation_id}", parameters=[conversation_id], operations={"get": {
        "summary": "One conversation with its messages in order.", "responses": _responses(one, "401", "404")}})
    spec.path(path="/api/v1/conversations/{conversation_id}/replies", parameters=[conversation_id], operations={
        "post": {"summary": "Answer the shopper on the conversation's channel: queued through the outbox.",
                 "requestBody": {"required": True, "content": _json("ConversationReplyIn")},
                 "responses": _responses({"202": {"description": "The queued message.",
                                                  "content": _json("ConversationMessageOut")}},
                                         "400", "401", "404", "413", "415")}})
    spec.path(path="/api/v1/conversations/{conversation_id}/close", parameters=[conversation_id], operations={
        "post": {"summary": "Close it: the marketing messages it held are due again.",
                 "responses": _responses(one, "401", "404")}})
    spec.path(path="/api/v1/conversations/{conversation_id}/reason", parameters=[conversation_id], operations={
        "put": {"summary": "Confirm or change the abandonment reason (null clears it).",
                "requestBody": {"required": True, "content": _json("ConversationReasonIn")},
                "responses": _responses(one, "400", "401", "404", "413", "415")}})


def _experiment_paths(spec: APISpec) -> None:
    experiment_id = {"name": "experiment_id", "in": "path", "required": True,
                     "schema": {"type": "integer", "minimum": 1}}
    one = {"200": {"description": "The experiment: variants side by side with sent, opened, clicked, orders, "
                                  "revenue per recipient, probability best and intervals; the decision.",
                   "content": _json("ExperimentOut")}}
    conflict = {"409": {"description": "Not in a state that allows it (error.fields.state).",
                        "content": _json("Error")}}
    spec.path(path="/api/v1/experiments", operations={
        "get": {"summary": "The store's experiments, newest first, with their results.",
                "responses": _responses({"200": {"description": "The experiments.",
                                                 "content": _json("ExperimentList")}}, "401")},
        "post": {"summary": "Start an A/B test of an automation step's templates: 2 to 4 weighted variants (the first "
                            "is the control); each shopper is assigned by a stable hash and keeps the variant.",
                 "requestBody": {"required": True, "content": _json("ExperimentIn")},
                 "responses": _responses({"201": {"description": "Running.", "content": _json("ExperimentOut")},
                                          "409": {"description": "The step has a running experiment.",
                                                  "content": _json("Error")}},
                                         "400", "401", "413", "415")}})
    spec.path(path="/api/v1/experiments/{experiment_id}", parameters=[experiment_id], operations={"get": {
        "summary": "One experiment with its results.", "responses": _responses(one, "401", "404")}})
    spec.path(path="/api/v1/experiments/{experiment_id}/stop", parameters=[experiment_id], operations={"post": {
        "summary": "End a running experiment without a winner: the step's own template again for everyone.",
        "responses": _responses({**one, **conflict}, "401", "404")}})
    spec.path(path="/api/v1/experiments/{experiment_id}/apply", parameters=[experiment_id], operations={"post": {
        "summary": "Make a decided experiment's winner the step's template (a template version by experiment:<id>); "
                   "repeating it changes nothing.",
        "responses": _responses({**one, **conflict}, "400", "401", "404")}})


def _coupon_paths(spec: APISpec) -> None:
    code = {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}
    checked = {"200": {"description": "valid, reason (expired, used_up, wrong_customer, below_minimum), discount, "
                                      "free_shipping, coupon.", "content": _json("CouponCheckOut")}}
    spec.path(path="/api/v1/coupons/{code}", parameters=[code], operations={"get": {
        "summary": "Whether the coupon is valid for this shopper and cart, the reason when not, and the discount "
                   "(the POST .../check keeps the email out of URLs and logs).",
        "parameters": [{"name": "email", "in": "query", "schema": {"type": "string", "maxLength": 254}},
                       {"name": "subtotal", "in": "query", "schema": {"type": "string", "pattern": MONEY_PATTERN}}],
        "responses": _responses(checked, "400", "401", "404")}})
    spec.path(path="/api/v1/coupons/{code}/check", parameters=[code], operations={"post": {
        "summary": "The same check with email and subtotal in a JSON body.",
        "requestBody": {"required": True, "content": _json("CouponCheckIn")},
        "responses": _responses(checked, "400", "401", "404", "413", "415")}})
    spec.path(path="/api/v1/coupons/{code}/redeem", parameters=[code], operations={"post": {
        "summary": "Redeem once for an order; a repeat for the same order is idempotent.",
        "requestBody": {"required": True, "content": _json("CouponRedeemIn")},
        "responses": _responses({"201": {"description": "Redeemed.", "content": _json("CouponRedemptionOut")},
                                 "200": {"description": "Already redeemed for this order.",
                                         "content": _json("CouponRedemptionOut")},
                                 "409": {"description": "Used up, expired or not this customer's.",
                                         "content": _json("Error")}},
                                "400", "401", "404", "413", "415")}})


def _template_paths(spec: APISpec) -> None:
    rendered = {"description": "Email: subject, html, text, preheader. SMS: text, encoding, segments, characters, "
                               "warnings.",
                "content": {"application/json": {"schema": {"type": "object"}}}}
    spec.path(path="/api/v1/templates/preview", operations={"post": {
        "summary": "Render a template (saved, or the unsaved source) with a sample cart or a real one.",
        "requestBody": {"required": True, "content": _json("TemplatePreviewIn")},
        "responses": _responses({"200": rendered}, "400", "401", "413", "415")}})
    spec.path(path="/api/v1/templates/test-send", operations={"post": {
        "summary": "Render and send to the given address or phone through the configured provider (a test).",
        "requestBody": {"required": True, "content": _json("TemplateTestSendIn")},
        "responses": _responses({"200": {"description": "Sent."},
                                 "502": {"description": "The provider refused, or the channel is disabled."},
                                 "429": {"description": "Too many test-sends this hour (rate_limited).",
                                         "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                                         "content": _json("Error")}},
                                "400", "401", "413", "415")}})
    spec.path(path="/api/v1/templates", operations={"get": {
        "summary": "Every template key per channel (locale variants such as abandoned_cart/step1.ko included), with "
                   "its current version.",
        "responses": _responses({"200": {"description": "The templates."}}, "401")}})
    params = [{"name": "channel", "in": "path", "required": True, "schema": {"type": "string",
                                                                            "enum": list(names())}},
              {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}]
    version = {"200": {"description": "The new version.", "content": _json("TemplateVersionOut")}}
    spec.path(path="/api/v1/templates/{channel}/{key}", parameters=params, operations={
        "get": {"summary": "The current source and the file default.",
                "responses": _responses({"200": {"description": "The template."}}, "401", "404")},
        "put": {"summary": "Save a new version (it must render).",
                "requestBody": {"required": True, "content": _json("TemplateIn")},
                "responses": _responses(version, "400", "401", "404", "413", "415")}})
    spec.path(path="/api/v1/templates/{channel}/{key}/reset", parameters=params, operations={"post": {
        "summary": "Back to the file default (recorded as a new version).",
        "responses": _responses(version, "401", "404")}})
    spec.path(path="/api/v1/templates/{channel}/{key}/versions", parameters=params, operations={"get": {
        "summary": "Version history, newest first.",
        "responses": _responses({"200": {"description": "The versions."}}, "401", "404")}})


@bp.get("/openapi.json")
def openapi():
    return jsonify(build_spec(public_urls(current_app).base_url))
