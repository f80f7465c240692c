"""What a shopper's click does for a cart from the Retainful plugin: the plugin's own signed restore link, with the
UTM parameters, and the message's coupon as ``retainful_ac_coupon`` for the plugin to apply."""
from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

from retainful import clock
from retainful.extensions import db
from retainful.models import Coupon, Store
from retainful.automations import update_step
from tests.conftest import T0
from tests.test_coupons_attribution import STEPS, email_cart
from tests.test_recovery_sequence import sent, walk
from tests.plugin_vectors import APP_ID, envelope
from tests.test_retainful_plugin import CART, CHECKOUT, plugin_shop  # noqa: F401 (the fixture)


def plugin_cart_emails(app, client, shop, through):
    body = envelope("cart")["body"].encode()  # the bytes the plugin's PHP engine posts, sealed by PHP
    response = client.post(CHECKOUT, data=body, headers={"App-Id": APP_ID, "Content-Type": "application/json"})
    assert response.status_code == 200, response.get_json()
    walk(app, *STEPS[:through])
    return sent(app, channel="email")


def click(client, message):
    clock.freeze(T0 + timedelta(days=5))
    response = client.get(f"/r/{message.link_code}")
    assert response.status_code == 302
    return urlsplit(response.headers["Location"])


def test_a_click_opens_the_plugins_restore_link_with_utm_and_no_coupon_yet(app, client, plugin_shop):
    (first,) = plugin_cart_emails(app, client, plugin_shop, through=1)
    target = click(client, first)
    signed = urlsplit(CART["abandoned_checkout_url"])
    assert (target.scheme, target.netloc, target.path) == (signed.scheme, signed.netloc, "/wc-api/retainful")
    query = parse_qs(target.query)
    assert {key: query[key] for key in ("token", "hash")} == parse_qs(signed.query)  # the plugin's hash still holds
    assert query["utm_source"] == ["retainful"] and query["utm_content"] == ["step1"]
    assert "retainful_ac_coupon" not in query


def test_a_coupon_carrying_step_hands_its_code_to_the_plugin(app, client, plugin_shop):
    with app.app_context():
        update_step(db.session.get(Store, plugin_shop.store_id), 3, coupon_type="percent",
                    coupon_amount=Decimal(10))
    emails = plugin_cart_emails(app, client, plugin_shop, through=3)
    with app.app_context():
        (coupon,) = db.session.query(Coupon).all()
    query = parse_qs(click(client, emails[2]).query)
    assert query["retainful_ac_coupon"] == [coupon.code] and query["utm_content"] == ["step3"]
    assert set(parse_qs(urlsplit(CART["abandoned_checkout_url"]).query)) <= set(query)
    assert "retainful_ac_coupon" not in parse_qs(click(client, emails[0]).query)  # the earlier step had none


def test_a_cart_not_from_the_plugin_keeps_its_link_without_the_plugins_parameter(app, shop, client):
    with app.app_context():
        update_step(db.session.get(Store, shop.store_id), 3, coupon_type="percent", coupon_amount=Decimal(10))
    email_cart(shop)
    walk(app, *STEPS[:3])
    query = parse_qs(click(client, sent(app, channel="email")[2]).query)
    assert "retainful_ac_coupon" not in query and query["utm_content"] == ["step3"]
