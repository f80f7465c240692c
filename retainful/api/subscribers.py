"""Sign-up forms: ``POST /api/v1/subscribers`` (201 for a new subscriber, 200 for a known one)."""
from __future__ import annotations

from retainful.api.request import current_store, json_body, saved
from retainful.api.schemas import SubscriberIn, SubscriberOut
from retainful.api.views import bp
from retainful.customers.subscribers import subscribe

subscriber_in, subscriber_out = SubscriberIn(), SubscriberOut()


@bp.post("/subscribers")
def post_subscriber():
    data = json_body(subscriber_in)
    customer, new = subscribe(current_store(), data, data.pop("source"))
    return saved(subscriber_out.dump(customer), new)
