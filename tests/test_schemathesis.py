"""schemathesis against the API's own OpenAPI document, in-process (WSGI), on SQLite and PostgreSQL: with the store's
key as auth, neither schema-valid nor invalid input gives a server error, and every answer keeps to the documented
status codes and response schemas."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from retainful import conversations, heartbeat
from retainful.extensions import db
from retainful.models import Coupon, Customer
from tests.conftest import T0, cart_body

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
EXAMPLES = 15  # per operation and mode: 20-50 s per database on this shared machine


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda mode: mode.value)
def test_the_api_keeps_to_its_document(app, shop, mode):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if "/webhooks/" not in op.path]  # signed, not keyed: their own tests
    assert len(operations) > 15
    with app.app_context():
        heartbeat.beat()  # a worker has run, so /readyz answers 200 (its 503s are tests/test_observability.py's)

    for operation in operations:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def keeps_to_the_document(case):
            case.call_and_validate(headers=shop.headers, checks=CHECKS)

        try:
            keeps_to_the_document()
        except Unsatisfiable:  # nothing to make invalid: no parameters, no body (GET /templates)
            assert mode == GenerationMode.NEGATIVE, operation.label
        except Exception as error:
            error.add_note(f"operation: {operation.label}")
            raise


def _seed(app, shop):
    """A store with something in every answer, and with the values that are null in real life: a guest cart with bare
    items and no recovery URL, an order with no cart or customer, a coupon with no minimum, an empty holdout."""
    bare = {"currency": "USD", "items": [{"product_id": "1", "name": "Mug", "quantity": 1, "price": "5"}],
            "subtotal": "5", "total": "5"}
    assert shop.put_cart("guest", bare).status_code == 201
    assert shop.put_cart("known", cart_body()).status_code == 201
    assert shop.post_order({"order_id": "o-1", "total": "5", "currency": "USD", "status": "processing"}
                           ).status_code == 201
    with app.app_context():
        db.session.add(Coupon(store_id=shop.store_id, code="SAVE5", kind="recovery", discount_type="fixed",
                              amount=Decimal(5), currency="USD", expires_at=T0 + timedelta(days=2)))
        db.session.commit()
        shopper = db.session.scalars(sa.select(Customer).where(Customer.store_id == shop.store_id)).one()
        conversations.receive(shopper, "email", "is the mug dishwasher safe?")  # conversation 1


# (method, path as documented, path as requested, JSON body)
REAL_CALLS = [
    ("GET", "/api/v1/carts/{token}", "/api/v1/carts/guest", None),
    ("GET", "/api/v1/carts/{token}", "/api/v1/carts/known", None),
    ("PUT", "/api/v1/carts/{token}", "/api/v1/carts/known", cart_body(total="-0")),
    ("GET", "/api/v1/orders/{order_id}", "/api/v1/orders/o-1", None),
    ("POST", "/api/v1/orders", "/api/v1/orders", {"order_id": "o-2", "cart_token": "known", "total": "36.95",
                                                  "currency": "USD", "status": "wc-completed"}),
    ("GET", "/api/v1/coupons/{code}", "/api/v1/coupons/SAVE5?subtotal=20", None),
    ("POST", "/api/v1/coupons/{code}/redeem", "/api/v1/coupons/SAVE5/redeem", {"order_id": "o-1"}),
    ("POST", "/api/v1/coupons/{code}/redeem", "/api/v1/coupons/SAVE5/redeem", {"order_id": "o-2"}),
    ("GET", "/api/v1/reports/summary", "/api/v1/reports/summary", None),
    ("GET", "/api/v1/reports/funnel", "/api/v1/reports/funnel?days=7", None),
    ("GET", "/api/v1/reports/coupons", "/api/v1/reports/coupons", None),
    ("GET", "/api/v1/reports/holdout", "/api/v1/reports/holdout", None),
    ("GET", "/api/v1/reports/before-after", "/api/v1/reports/before-after", None),
    ("GET", "/api/v1/reports/daily.csv", "/api/v1/reports/daily.csv?from=2026-03-01&to=2026-03-02", None),
    ("GET", "/api/v1/templates", "/api/v1/templates", None),
    ("GET", "/api/v1/templates/{channel}/{key}", "/api/v1/templates/sms/abandoned_cart/step1", None),
    ("PUT", "/api/v1/templates/{channel}/{key}", "/api/v1/templates/sms/abandoned_cart/step1",
     {"source": "{{ store.name }}: your cart is waiting {{ recovery_url }} STOP to opt out"}),
    ("GET", "/api/v1/templates/{channel}/{key}/versions", "/api/v1/templates/sms/abandoned_cart/step1/versions",
     None),
    ("POST", "/api/v1/templates/{channel}/{key}/reset", "/api/v1/templates/sms/abandoned_cart/step1/reset", None),
    ("POST", "/api/v1/templates/preview", "/api/v1/templates/preview",
     {"channel": "email", "template": "abandoned_cart/step1", "cart_token": "known"}),
    ("GET", "/api/v1/conversations", "/api/v1/conversations?status=open", None),
    ("GET", "/api/v1/conversations/{conversation_id}", "/api/v1/conversations/1", None),
    ("POST", "/api/v1/conversations/{conversation_id}/replies", "/api/v1/conversations/1/replies",
     {"text": "Yes, it is!", "agent_name": "Sam"}),
    ("PUT", "/api/v1/conversations/{conversation_id}/reason", "/api/v1/conversations/1/reason",
     {"reason": "product_info"}),
    ("GET", "/api/v1/conversations/{conversation_id}", "/api/v1/conversations/1", None),
    ("POST", "/api/v1/conversations/{conversation_id}/close", "/api/v1/conversations/1/close", None),
    ("GET", "/api/v1/reports/conversations", "/api/v1/reports/conversations", None),
    ("GET", "/api/v1/reports/reasons", "/api/v1/reports/reasons", None),
    ("GET", "/api/v1/conversations/{conversation_id}", "/api/v1/conversations/99", None),
    ("GET", "/api/v1/carts/{token}", "/api/v1/carts/nope", None),
    ("DELETE", "/api/v1/carts/{token}", "/api/v1/carts/guest", None),
    ("PUT", "/api/v1/products/{product_id}", "/api/v1/products/101",
     {"name": "Coffee beans", "replenish_after_days": 30}),
    ("PUT", "/api/v1/products/{product_id}", "/api/v1/products/101", {"name": "Coffee", "replenish_after_days": None}),
    ("GET", "/api/v1/products/{product_id}", "/api/v1/products/101", None),
    ("GET", "/api/v1/products/{product_id}", "/api/v1/products/nope", None),
    ("POST", "/api/v1/orders", "/api/v1/orders", {"order_id": "o-3", "total": "5", "currency": "USD",
                                                  "status": "processing",
                                                  "items": [{"product_id": "101", "quantity": 2}]}),
]


def test_real_answers_of_a_store_with_data_match_the_document(app, shop):
    _seed(app, shop)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    for method, documented, path, body in REAL_CALLS:
        response = shop.client.open(path, method=method, json=body, headers=shop.headers)
        assert response.status_code < 500, (path, response.get_data(as_text=True))
        operation = schema[documented][method]
        try:
            operation.validate_response(response)
        except Exception as error:
            error.add_note(f"{method} {path}")
            raise
