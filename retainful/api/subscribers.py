"""Sign-up forms: ``POST /api/v1/subscribers`` (201 for a new subscriber, 200 for a known one)."""
from __future__ import annotations

from flask import jsonify

from retainful.api.request import current_store, json_body
from retainful.api.schemas import SubscriberIn, SubscriberOut
from retainful.api.views import bp
from retainful.customers.subscribers import subscribe

subscriber_in, subscriber_out = SubscriberIn(), SubscriberOut()


@bp.post("/subscribers")
def post_subscriber():
    data = json_body(subscriber_in)
    customer, new = subscribe(current_store(), data, data.pop("source"))
    return jsonify(subscriber_out.dump(customer)), 201 if new else 200
