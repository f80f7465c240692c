"""Shipment tracking on orders, on SQLite and PostgreSQL: WooCommerce Shipment Tracking's
``_wc_shipment_tracking_items`` order meta (as the shop's REST API and webhooks show it) and the API's ``tracking``,
stored on the order."""
from __future__ import annotations

import json
from datetime import date

import pytest

from retainful.orders import tracking
from retainful.orders.woocommerce import order_data_from_woo
from tests.test_woocommerce import deliver
from tests.woo_stub import woo_order_payload

# The plugin's meta as WooCommerce's REST API shows it: a known provider by slug (the plugin builds its link), a
# provider the merchant typed in with its own link, and the Unix time the plugin stores in date_shipped.
SHIPMENT_ITEMS = [
    {"tracking_provider": "usps", "custom_tracking_provider": "", "custom_tracking_link": "",
     "tracking_number": "9400 1000 0000 0000 0000 00", "date_shipped": "1772409600",
     "tracking_id": "2f9d8e1c4b7a6f5e3d2c1b0a9f8e7d6c"},
    {"tracking_provider": "", "custom_tracking_provider": "Acme Couriers",
     "custom_tracking_link": "https://track.acme-couriers.example/?n=AC123", "tracking_number": "AC123",
     "date_shipped": 1772496000, "tracking_id": "8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f"},
]


def meta(value):
    return {"id": 9100, "key": "_wc_shipment_tracking_items", "value": value}


def test_the_plugins_items_become_carrier_number_link_and_day():
    payload = woo_order_payload(status="completed")
    payload["meta_data"].append(meta(SHIPMENT_ITEMS))
    assert order_data_from_woo(payload)["tracking"] == [
        {"carrier": "USPS", "number": "9400 1000 0000 0000 0000 00", "shipped_on": date(2026, 3, 2),
         "url": "https://tools.usps.com/go/TrackConfirmAction_input?qtc_tLabels1="
                "9400%201000%200000%200000%200000%2000"},
        {"carrier": "Acme Couriers", "number": "AC123", "url": "https://track.acme-couriers.example/?n=AC123",
         "shipped_on": date(2026, 3, 3)},
    ]


def test_an_order_without_the_meta_leaves_tracking_unsaid_and_odd_items_are_dropped():
    assert order_data_from_woo(woo_order_payload())["tracking"] is None
    payload = woo_order_payload()
    payload["meta_data"].append(meta({"1": {**SHIPMENT_ITEMS[0], "tracking_provider": "dhl-parcel-xx",
                                            "date_shipped": "2026-03-04"},  # a PHP array with a gap
                                      "3": {"tracking_number": ""}, "4": "junk",
                                      "5": {**SHIPMENT_ITEMS[1], "custom_tracking_link": "javascript:alert(1)",
                                            "date_shipped": "99999999999999"},
                                      "6": {"tracking_number": "N\u0000UL"}}))
    assert order_data_from_woo(payload)["tracking"] == [
        {"carrier": "dhl-parcel-xx", "number": "9400 1000 0000 0000 0000 00", "url": None,
         "shipped_on": date(2026, 3, 4)},
        {"carrier": "Acme Couriers", "number": "AC123", "url": None, "shipped_on": None},
    ]
    for junk in (None, "a:1:{}", 5, []):
        payload = woo_order_payload()
        payload["meta_data"].append(meta(junk))
        assert order_data_from_woo(payload)["tracking"] == []


def test_tracking_from_a_webhook_is_stored_and_a_later_delivery_replaces_it(shop, app):
    payload = woo_order_payload(status="processing")
    assert deliver(shop, payload).status_code == 200
    assert shop.client.get("/api/v1/orders/727", headers=shop.headers).get_json()["tracking"] is None
    shipped = woo_order_payload(status="completed", date_modified_gmt="2026-03-02T09:30:00")
    shipped["meta_data"].append(meta(SHIPMENT_ITEMS[1:]))
    assert deliver(shop, shipped, topic="order.updated").status_code == 200
    order = shop.client.get("/api/v1/orders/727", headers=shop.headers).get_json()
    assert order["status"] == "completed" and order["completed_at"].startswith("2026-03-02T09:00:00")
    assert order["tracking"] == [{"carrier": "Acme Couriers", "number": "AC123", "shipped_on": "2026-03-03",
                                  "url": "https://track.acme-couriers.example/?n=AC123"}]
    later = woo_order_payload(status="completed", date_modified_gmt="2026-03-02T10:00:00")  # no meta: kept
    assert deliver(shop, later, topic="order.updated").status_code == 200
    assert shop.client.get("/api/v1/orders/727", headers=shop.headers).get_json()["tracking"] == order["tracking"]


def test_the_api_order_body_carries_tracking_too(shop):
    body = {"order_id": "T-1", "customer": {"email": "alice@example.com"}, "total": "10", "currency": "USD",
            "status": "completed", "tracking": [{"carrier": "DHL", "number": "JD0141", "url":
                                                 "https://www.dhl.com/track?id=JD0141", "shipped_on": "2026-03-01"}]}
    created = shop.post_order(body)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["tracking"] == [{"carrier": "DHL", "number": "JD0141", "shipped_on": "2026-03-01",
                                               "url": "https://www.dhl.com/track?id=JD0141"}]
    assert shop.post_order({**body, "tracking": None}).get_json()["tracking"] == created.get_json()["tracking"]
    replaced = shop.post_order({**body, "tracking": [{"number": "JD0142"}]})
    assert replaced.get_json()["tracking"] == [{"carrier": None, "number": "JD0142", "url": None,
                                                "shipped_on": None}]


@pytest.mark.parametrize("item, field", [
    ({"carrier": "DHL"}, "tracking.0.number"),
    ({"number": ""}, "tracking.0.number"),
    ({"number": "x" * 101}, "tracking.0.number"),
    ({"number": 5}, "tracking.0.number"),
    ({"number": "A1", "url": "javascript:alert(1)"}, "tracking.0.url"),
    ({"number": "A1", "url": "ftp://dhl.example/A1"}, "tracking.0.url"),
    ({"number": "A1", "shipped_on": "1999-12-31"}, "tracking.0.shipped_on"),
    ({"number": "A1", "shipped_on": "tomorrow"}, "tracking.0.shipped_on"),
    ({"number": "A\u00001"}, "tracking.0.number"),
    ({"number": "A1", "carrier": "\ud800"}, "tracking.0.carrier"),
    ("JD0141", "tracking.0._schema"),
], ids=["no number", "empty number", "long number", "number a number", "javascript link", "ftp link",
        "shipped before 2000", "shipped not a date", "NUL", "lone surrogate", "not an object"])
def test_hostile_tracking_is_a_400_naming_the_field_and_nothing_is_stored(shop, item, field):
    body = {"order_id": "T-9", "total": "10", "currency": "USD", "status": "completed", "tracking": [item]}
    response = shop.client.post("/api/v1/orders", data=json.dumps(body), content_type="application/json",
                                headers=shop.headers)
    assert response.status_code == 400 and field in response.get_json()["error"]["fields"], response.get_json()
    assert shop.client.get("/api/v1/orders/T-9", headers=shop.headers).status_code == 404


def test_more_than_twenty_shipments_are_refused_by_the_api_and_cut_from_the_meta(shop):
    body = {"order_id": "T-8", "total": "10", "currency": "USD", "status": "completed",
            "tracking": [{"number": f"N{n}"} for n in range(21)]}
    response = shop.post_order(body)
    assert response.status_code == 400 and "tracking" in response.get_json()["error"]["fields"]
    payload = woo_order_payload()
    payload["meta_data"].append(meta([{**SHIPMENT_ITEMS[0], "tracking_number": f"N{n}"} for n in range(25)]))
    assert len(order_data_from_woo(payload)["tracking"]) == tracking.MAX_ITEMS
