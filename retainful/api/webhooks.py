"""WooCommerce webhook deliveries: order.created / updated / restored / deleted, authenticated by their HMAC signature.

WooCommerce cannot send our Bearer key, so this endpoint is exempt from it (see views._authenticate) and the store's
webhook secret signs the body instead. The signature is checked on the raw bytes before anything is parsed.
"""
from __future__ import annotations

import re

from flask import jsonify, request

from retainful.api.errors import ApiError
from retainful.api.request import json_object
from retainful.api.views import bp
from retainful.extensions import db
from retainful.models import Store
from retainful.orders import woocommerce

_PING = re.compile(rb"^webhook_id=[0-9]+$")
_STORE_ID = re.compile(r"^[0-9]{1,9}$")  # fits every integer column; anything else is simply no store


def _store_or_404(store_id: str) -> Store:
    store = db.session.get(Store, int(store_id)) if _STORE_ID.match(store_id) else None
    if store is None:
        raise ApiError(404, "not_found", "No store with this id.")
    return store


# <store_id> rather than <int:store_id>: the OpenAPI path must read {store_id}, and an out-of-range id must be a 404,
# not a database error.
@bp.post("/webhooks/woocommerce/<store_id>")
def woocommerce_webhook(store_id: str):
    store = _store_or_404(store_id)
    body = request.get_data()
    signature = request.headers.get("X-WC-Webhook-Signature")
    if signature is None and _PING.match(body.strip()):
        return jsonify(ping="ok")  # sent unsigned when the webhook is saved; WooCommerce wants exactly 200
    if not woocommerce.verify_signature(store.webhook_secret, body, signature):
        raise ApiError(401, "unauthorized", "Bad or missing X-WC-Webhook-Signature for this store's webhook secret.")
    topic = request.headers.get("X-WC-Webhook-Topic", "")
    if topic not in woocommerce.ORDER_TOPICS:
        return jsonify(ignored=topic)  # 200: a failing delivery counts towards WooCommerce disabling the webhook
    received = woocommerce.receive_webhook(store, topic, request.headers.get("X-WC-Webhook-Delivery-ID"),
                                           json_object(body))
    if received.order is None:
        return jsonify(ignored=topic, reason=received.ignored)
    return jsonify(order_id=received.order.external_id, status=received.order.status, created=received.created)
