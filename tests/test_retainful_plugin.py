"""The official Retainful WooCommerce plugin connected to this service: credentials, its envelope (against vectors
made by PHP the plugin's way), and the endpoints it calls, with hostile input."""
import base64
import json
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa

from retainful.extensions import db
from retainful.models import Store
from retainful.plugin import crypto
from tests.plugin_vectors import APP_ID, SECRETS, VECTORS, envelope


# --- credentials -------------------------------------------------------------------------------------------------

def test_create_store_json_has_the_plugin_credentials(runner):
    result = runner.invoke(args=["create-store", "--name", "Tea", "--domain", "tea.example", "--json"])
    issued = json.loads(result.output)
    assert re.fullmatch(r"[a-z0-9]{24}", issued["retainful_app_id"])
    assert re.fullmatch(r"[a-z0-9]{32}", issued["retainful_secret_key"])  # a slug, as the plugin's settings require
    other = json.loads(runner.invoke(args=["create-store", "--name", "B", "--domain", "b.example", "--json"]).output)
    assert other["retainful_app_id"] != issued["retainful_app_id"]
    assert other["retainful_secret_key"] != issued["retainful_secret_key"]
    plain = runner.invoke(args=["create-store", "--name", "C", "--domain", "c.example"]).output
    assert "Retainful App ID:" in plain and "Retainful Secret Key:" in plain


def test_plugin_credentials_shows_and_rotates_the_secret(runner, shop):
    shown = json.loads(runner.invoke(args=["plugin-credentials", str(shop.store_id), "--json"]).output)
    assert set(shown) == {"id", "retainful_app_id", "retainful_secret_key"} and shown["id"] == shop.store_id
    again = json.loads(runner.invoke(args=["plugin-credentials", str(shop.store_id), "--json"]).output)
    assert again == shown  # showing changes nothing
    rotated = json.loads(runner.invoke(args=["plugin-credentials", str(shop.store_id), "--rotate", "--json"]).output)
    assert rotated["retainful_app_id"] == shown["retainful_app_id"]
    assert rotated["retainful_secret_key"] != shown["retainful_secret_key"]
    assert re.fullmatch(r"[a-z0-9]{32}", rotated["retainful_secret_key"])
    plain = runner.invoke(args=["plugin-credentials", str(shop.store_id)]).output
    assert rotated["retainful_secret_key"] in plain
    missing = runner.invoke(args=["plugin-credentials", "999"])
    assert missing.exit_code != 0 and "no store with id 999" in missing.output


# --- the endpoints -----------------------------------------------------------------------------------------------

CHECKOUT = "/retainful/v1/woocommerce/webhooks/checkout"
CART = json.loads(envelope("cart")["plaintext"])
ORDER = json.loads(envelope("order")["plaintext"])
TOKEN = CART["cart_token"]


@pytest.fixture
def plugin_shop(app, shop):
    """The demo shop holding the credentials the vectors were sealed with."""
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        store.retainful_app_id, store.retainful_secret_key = APP_ID, SECRETS["store"]
        db.session.commit()
    return shop


def sealed(payload, secret=SECRETS["store"]) -> bytes:
    text = payload if isinstance(payload, str) else crypto.php_json(payload)
    return json.dumps({"data": crypto.seal(text, secret)}).encode()


def post(client, body: bytes, app_id=APP_ID, **headers):
    headers = {"Content-Type": "application/json", **({"App-Id": app_id} if app_id else {}), **headers}
    return client.post(CHECKOUT, data=body, headers=headers)


def cart_state(shop, token=TOKEN):
    response = shop.get_cart(token)
    return response.status_code, response.get_json()


def test_a_plugin_cart_is_reported_like_put_cart(client, plugin_shop):
    body = envelope("cart")["body"].encode()  # the bytes the plugin's PHP engine posts
    response = client.post(CHECKOUT, data=body, headers={"app_id": APP_ID, "Content-Type": "application/json"})
    assert response.status_code == 200 and response.get_json() == {"success": True}
    status, cart = cart_state(plugin_shop)
    assert status == 200 and cart["status"] == "live" and cart["currency"] == "EUR"
    assert (cart["subtotal"], cart["total"], cart["item_count"]) == ("33.00", "36.95", 3)
    assert [(i["product_id"], i["variant_id"], i["sku"], i["name"], i["quantity"], i["price"])
            for i in cart["items"]] == [("101", None, "MUG-RED", "Red mug \u2615", 2, "12.50"),
                                        ("102", "107", None, "Cr\u00e8me br\u00fbl\u00e9e tea", 1, "8.00")]
    assert cart["items"][1]["image_url"] is None  # PHP's false
    customer = cart["customer"]
    assert (customer["email"], customer["first_name"], customer["last_name"]) == ("zoe@example.com", "Zo\u00e9",
                                                                                  "Lef\u00e8vre")
    assert customer["phone"] == "+33612345678" and customer["email_consent"] is True and customer["locale"] == "fr_FR"
    assert cart["recovery_url"] == CART["abandoned_checkout_url"] and "/wc-api/retainful?token=" in cart["recovery_url"]


def test_the_snapshot_is_served_back_for_the_plugin_restore(client, plugin_shop, make_store):
    post(client, envelope("cart")["body"].encode())
    response = client.get(f"/retainful/v1/woocommerce/abandoned_checkouts/{TOKEN}", headers={"app_id": APP_ID})
    assert response.status_code == 200 and response.get_json() == {"success": True, "data": CART}
    unknown = client.get("/retainful/v1/woocommerce/abandoned_checkouts/" + "f" * 32, headers={"App-Id": APP_ID})
    assert unknown.status_code == 404 and unknown.get_json() == {"success": False}
    other = make_store(name="Other", domain="other.example")
    with other.client.application.app_context():
        other_app_id = db.session.get(Store, other.store_id).retainful_app_id
    theirs = client.get(f"/retainful/v1/woocommerce/abandoned_checkouts/{TOKEN}", headers={"App-Id": other_app_id})
    assert theirs.status_code == 404 and theirs.get_json() == {"success": False}  # another store's token
    nobody = client.get(f"/retainful/v1/woocommerce/abandoned_checkouts/{TOKEN}", headers={"App-Id": "nope"})
    assert nobody.status_code == 401 and nobody.get_json()["success"] is False
    hostile = client.get("/retainful/v1/woocommerce/abandoned_checkouts/" + "%00" * 3, headers={"App-Id": APP_ID})
    assert hostile.status_code == 404


def test_a_replayed_or_older_snapshot_does_not_roll_the_cart_back(client, plugin_shop, frozen_clock):
    newer = {**CART, "updated_at": "2026-12-01T10:05:00+01:00", "line_items": CART["line_items"][:1],
             "subtotal_price": 25, "total_price": 27.5}
    assert post(client, sealed(newer)).status_code == 200
    frozen_clock.advance(timedelta(minutes=20))
    assert plugin_shop.client.application and run_sweep(plugin_shop) == "abandoned"
    before = cart_state(plugin_shop)[1]
    assert post(client, sealed(newer)).status_code == 200  # the same delivery again (a replay): nothing moves
    assert post(client, envelope("cart")["body"].encode()).status_code == 200  # older (10:00) than what we have
    after = cart_state(plugin_shop)[1]
    assert after == before and after["status"] == "abandoned" and after["item_count"] == 2
    snapshot = client.get(f"/retainful/v1/woocommerce/abandoned_checkouts/{TOKEN}", headers={"App-Id": APP_ID})
    assert snapshot.get_json()["data"]["updated_at"] == "2026-12-01T10:05:00+01:00"
    newest = {**newer, "updated_at": "2026-12-01T10:30:00+01:00"}
    assert post(client, sealed(newest)).status_code == 200
    assert cart_state(plugin_shop)[1]["status"] == "live"  # a newer report brings the shopper back


def run_sweep(shop):
    with shop.client.application.app_context():
        from retainful import carts
        carts.sweep_abandoned()
    return cart_state(shop)[1]["status"]


def test_an_emptied_plugin_cart_is_deleted(client, plugin_shop):
    post(client, envelope("cart")["body"].encode())
    emptied = {**CART, "updated_at": "2026-12-01T10:10:00+01:00", "line_items": [], "total_price": 0}
    assert post(client, sealed(emptied)).status_code == 200
    assert cart_state(plugin_shop)[1]["status"] == "deleted"


def test_a_plugin_order_is_recorded_like_post_order(client, plugin_shop):
    post(client, envelope("cart")["body"].encode())
    response = post(client, envelope("order")["body"].encode())
    assert response.status_code == 200 and response.get_json() == {"success": True}
    order = plugin_shop.client.get("/api/v1/orders/4711", headers=plugin_shop.headers).get_json()
    assert (order["status"], order["total"], order["currency"], order["cart_token"]) == ("processing", "36.95", "EUR",
                                                                                         TOKEN)
    assert order["cart_status"] == "converted" and order["placed_at"] == "2026-12-01T10:00:05+00:00"
    # The plugin swaps the names in the order's customer; the customer keeps them the right way round.
    assert (order["customer"]["first_name"], order["customer"]["last_name"]) == ("Zo\u00e9", "Lef\u00e8vre")
    assert post(client, envelope("order")["body"].encode()).status_code == 200  # a replay records nothing twice
    assert plugin_shop.client.get("/api/v1/orders/4711", headers=plugin_shop.headers).get_json() == order


def test_a_pending_order_is_not_placed_and_a_placed_one_that_turns_pending_is_cancelled(client, plugin_shop):
    pending = {**ORDER, "order_status": "pending", "completed_at": None}
    assert post(client, sealed(pending)).status_code == 200
    assert plugin_shop.client.get("/api/v1/orders/4711", headers=plugin_shop.headers).status_code == 404
    assert cart_state(plugin_shop)[1]["status"] == "live"  # still a checkout the shopper may abandon
    assert post(client, sealed({**ORDER, "order_status": "on-hold", "completed_at": None,
                                "treat_on_hold_as_complete": False})).status_code == 200
    assert plugin_shop.client.get("/api/v1/orders/4711", headers=plugin_shop.headers).status_code == 404
    post(client, envelope("order")["body"].encode())
    assert post(client, sealed(pending)).status_code == 200  # the plugin sends a cancelled order as pending
    order = plugin_shop.client.get("/api/v1/orders/4711", headers=plugin_shop.headers).get_json()
    assert order["status"] == "cancelled"


def test_connect_checks_the_sealed_app_id_and_keeps_the_shop(client, plugin_shop, app):
    shop = {"secret_key": VECTORS["connect_secret_key"], "domain": "acme.example", "name": "Acme Mugs",
            "email": "owner@acme.example", "currency": "EUR", "timezone": "Europe/Paris", "country": "FR",
            "address_1": "12 rue Oberkampf", "city": "Paris", "postcode": "75011", "unexpected": {"nested": 1}}
    wrong = client.post(f"/retainful/v1/app/{APP_ID}", json={"shop": {**shop, "secret_key": crypto.seal(
        '"' + APP_ID + '"', SECRETS["short"])}}, headers={"app_id": APP_ID})
    assert wrong.status_code == 401 and wrong.get_json()["success"] is False and "secret key" in wrong.get_json()[
        "message"]
    with app.app_context():
        assert db.session.get(Store, plugin_shop.store_id).retainful_connected_at is None  # nothing changed
    other_id = client.post("/retainful/v1/app/someone-else", json={"shop": shop}, headers={"app_id": "someone-else"})
    assert other_id.status_code == 401 and other_id.get_json()["success"] is False
    for hostile in ("%00", "%ED%A0%80", "x" * 300, "Caf%C3%A9"):
        response = client.post(f"/retainful/v1/app/{hostile}", json={"shop": shop})
        assert response.status_code == 401 and response.get_json()["success"] is False, hostile
    for body in (b"not json", b'{"shop": "acme"}', b'{"shop": {"secret_key": 7}}', b"[]"):
        response = client.post(f"/retainful/v1/app/{APP_ID}", data=body, headers={"Content-Type": "application/json"})
        assert response.status_code in (400, 401) and response.get_json()["success"] is False, body
    mismatched = client.post(f"/retainful/v1/app/{APP_ID}", json={"shop": shop}, headers={"App-Id": "someone-else"})
    assert mismatched.status_code == 401
    for hostile in ("12 rue\x00 Oberkampf", "12 rue \ud800"):
        response = client.post(f"/retainful/v1/app/{APP_ID}", data=json.dumps({"shop": {**shop, "address_1": hostile}}),
                               headers={"Content-Type": "application/json"})
        assert response.status_code == 400 and "shop.address_1" in response.get_json()["error"]["fields"]
    response = client.post(f"/retainful/v1/app/{APP_ID}", json={"shop": shop}, headers={"app_id": APP_ID})
    assert response.status_code == 200
    assert response.get_json() == {"success": True, "plan": "free", "status": "active", "period_end": "never",
                                   "message": "App connected successfully"}
    with app.app_context():
        store = db.session.get(Store, plugin_shop.store_id)
        assert store.retainful_shop["email"] == "owner@acme.example" and "secret_key" not in store.retainful_shop
        assert "unexpected" not in store.retainful_shop
        assert store.postal_address == "12 rue Oberkampf, Paris, 75011, FR" and store.country == "US"  # kept
        assert store.retainful_connected_at is not None


def test_cors_preflight_for_the_browser_engine(client, plugin_shop):
    response = client.options(CHECKOUT, headers={"Origin": "https://acme.example",
                                                 "Access-Control-Request-Method": "POST",
                                                 "Access-Control-Request-Headers": "app_id, content-type"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "app_id" in response.headers["Access-Control-Allow-Headers"]
    assert post(client, envelope("cart")["body"].encode()).headers["Access-Control-Allow-Origin"] == "*"


def test_woocommerce_ping_when_the_plugin_creates_its_webhooks(client, plugin_shop):
    response = client.post(CHECKOUT, data=b"webhook_id=12", headers={"X-WC-Webhook-Source": "https://acme.example/"})
    assert response.status_code == 200 and response.get_json() == {"success": True}


def test_the_rewritten_woocommerce_webhook_is_read_by_its_app_id_header(client, plugin_shop):
    response = client.post(CHECKOUT, data=envelope("order")["body"].encode(), headers={
        "app-id": APP_ID, "Content-Type": "application/json", "X-WC-Webhook-Topic": "order.updated",
        "X-WC-Webhook-Signature": "ignored", "X-Cart-Token": TOKEN})
    assert response.status_code == 200
    joined = post(client, envelope("cart")["body"].encode(), app_id=f"{APP_ID},{APP_ID}")  # both spellings, joined
    assert joined.status_code == 200


def _nothing_stored(plugin_shop):
    assert plugin_shop.get_cart(TOKEN).status_code == 404


@pytest.mark.parametrize("case", ["no-app-id", "unknown-app-id", "two-app-ids", "nul-app-id", "forged-hmac",
                                  "other-secret",
                                  "truncated", "not-base64"])
def test_unauthenticated_deliveries_get_401_and_store_nothing(client, plugin_shop, case):
    good = json.loads(envelope("cart")["body"])["data"]
    iv, mac, ct = base64.b64decode(good).decode().split(crypto.SEPARATOR)
    body = {"forged-hmac": json.dumps({"data": base64.b64encode(crypto.SEPARATOR.join(
                (iv, "ab" * 32, ct)).encode()).decode()}).encode(),
            "other-secret": sealed(CART, SECRETS["long"]),
            "truncated": json.dumps({"data": good[:-8]}).encode(),
            "not-base64": b'{"data": "\\u0000\\ud800"}'}.get(case, envelope("cart")["body"].encode())
    app_id = {"no-app-id": None, "unknown-app-id": "x" * 24, "two-app-ids": f"{APP_ID},other",
              "nul-app-id": APP_ID + "\x00"}.get(case, APP_ID)
    response = post(client, body, app_id=app_id)
    assert response.status_code == 401 and response.get_json()["success"] is False
    assert response.get_json()["error"]["code"] == "unauthorized"
    _nothing_stored(plugin_shop)


@pytest.mark.parametrize("body, field", [
    (b"not json", "_schema"), (b"[1, 2]", "_schema"), (b'{"data": 7}', "data"), (b'{"data": ["x"]}', "data"),
    (b'{"other": "x"}', "data"), (b'{"data": "x"' + b" " * 10 + b"}", "data"),
], ids=["not-json", "array", "int", "list", "missing", "short"])
def test_malformed_bodies_get_a_400_or_401_naming_the_field(client, plugin_shop, body, field):
    response = post(client, body)
    if field == "data" and body.startswith(b'{"data": "'):
        assert response.status_code == 401  # a string that is not a sealed blob: unauthenticated
    else:
        assert response.status_code == 400 and field in response.get_json()["error"]["fields"]
    assert response.get_json()["success"] is False
    _nothing_stored(plugin_shop)


def _line(**changes):
    return [{**CART["line_items"][0], **changes}]


@pytest.mark.parametrize("changes, field", [
    ({"line_items": _line(title="Mug\x00")}, "line_items.0.title"),
    ({"line_items": _line(title="Mug \ud800")}, "line_items.0.title"),
    ({"email": "zoe\x00@example.com"}, "email"),
    ({"client_session": {"k\x00": 1}}, "client_session.k\\x00"),  # a bad key is named, escaped
    ({"line_items": _line(quantity="two")}, "line_items.0.quantity"),
    ({"line_items": _line(quantity=0)}, "line_items.0.quantity"),
    ({"line_items": _line(price="-1.00")}, "line_items.0.price"),
    ({"line_items": _line(price=1.23456)}, "line_items.0.price"),
    ({"line_items": ["a mug"]}, "line_items.0._schema"),
    ({"line_items": "a mug"}, "line_items"),
    ({"line_items": [{"product_id": 1, "title": "m", "quantity": 1, "price": "1"}] * 501}, "line_items"),
    ({"total_price": -1}, "total_price"),
    ({"total_price": "lots"}, "total_price"),
    ({"subtotal_price": None}, "subtotal_price"),
    ({"presentment_currency": "EURO"}, "presentment_currency"),
    ({"email": "not an email"}, "email"),
    ({"customer": "zoe"}, "customer"),
    ({"buyer_accepts_marketing": "perhaps"}, "buyer_accepts_marketing"),
    ({"abandoned_checkout_url": "https://evil.example/wc-api/retainful"}, "abandoned_checkout_url"),
    ({"cart_type": "wishlist"}, "cart_type"),
    ({"cart_type": None}, "cart_type"),
    ({"cart_token": "../../etc", "token": None, "id": None}, "cart_token"),
    ({"cart_token": ["x"]}, "cart_token"),
    ({"updated_at": "yesterday"}, "updated_at"),
    ({"updated_at": "2026-12-01T10:00:00"}, "updated_at"),  # no offset: the plugin always sends one
], ids=lambda value: value if isinstance(value, str) else None)
def test_an_invalid_plaintext_gets_400_naming_the_plugins_field(client, plugin_shop, changes, field):
    response = post(client, sealed({**CART, **changes}))
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["success"] is False and body["error"]["code"] == "validation_error"
    assert field in body["error"]["fields"], body
    _nothing_stored(plugin_shop)


def test_an_invalid_order_names_the_plugins_field(client, plugin_shop):
    response = post(client, sealed({**ORDER, "r_order_id": None, "order_number": None}))
    assert response.status_code == 400 and set(response.get_json()["error"]["fields"]) == {"r_order_id"}
    response = post(client, sealed({**ORDER, "order_status": 7}))
    assert response.status_code == 400 and set(response.get_json()["error"]["fields"]) == {"order_status"}


def test_a_plaintext_that_is_not_a_json_object(client, plugin_shop):
    for text in ("not json", "[1, 2]", '"just a string"', "[" * 20_000,
                 crypto.php_json(CART)[:-1] + ',"client_session":{"x":1e400}}',
                 crypto.php_json(CART)[:-1] + ',"total_tax":NaN}', crypto.php_json(CART)[:-1] + ',"n":' + "9" * 5000 + "}"):
        response = post(client, sealed(text))
        assert response.status_code == 400 and response.get_json()["success"] is False


def test_a_huge_body_is_refused(client, plugin_shop):
    response = post(client, json.dumps({"data": "A" * 3_000_000}).encode())
    assert response.status_code in (401, 413) and response.get_json()["success"] is False


def test_erasing_the_shopper_clears_the_snapshot(client, plugin_shop, app):
    post(client, envelope("cart")["body"].encode())
    with app.app_context():
        from retainful.customers.erasure import erase_customer
        from retainful.models import Cart
        cart = db.session.scalar(sa.select(Cart).where(Cart.token == TOKEN))
        erase_customer(cart.customer)
        db.session.commit()
    response = client.get(f"/retainful/v1/woocommerce/abandoned_checkouts/{TOKEN}", headers={"App-Id": APP_ID})
    assert response.status_code == 404 and "zoe" not in response.get_data(as_text=True)


def test_concurrent_snapshots_leave_the_newest(app, client, plugin_shop):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("row-level concurrency is a PostgreSQL matter; SQLite serialises writers")
    post(client, envelope("cart")["body"].encode())
    bodies = [sealed({**CART, "updated_at": f"2026-12-01T10:{minute:02d}:00+01:00",
                      "line_items": _line(quantity=minute)}) for minute in range(1, 13)]
    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda body: post(app.test_client(), body).status_code, reversed(bodies)))
    assert set(codes) == {200}
    assert cart_state(plugin_shop)[1]["item_count"] == 12  # the newest snapshot, whatever order they committed in


def test_the_app_id_in_the_path_names_the_store_when_the_header_is_dropped(client, plugin_shop, make_store):
    body = envelope("cart")["body"].encode()
    path = f"/retainful/v1/woocommerce/{APP_ID}/webhooks/checkout"
    response = client.post(path, data=body, headers={"Content-Type": "application/json"})  # no header survived
    assert response.status_code == 200 and response.headers["Access-Control-Allow-Origin"] == "*"
    assert cart_state(plugin_shop)[0] == 200
    restore = client.get(f"/retainful/v1/woocommerce/{APP_ID}/abandoned_checkouts/{TOKEN}")
    assert restore.status_code == 200 and restore.get_json()["data"] == CART
    other = make_store(name="Other", domain="other.example")
    with other.client.application.app_context():
        other_app_id = db.session.get(Store, other.store_id).retainful_app_id
    for app_id, header in ((other_app_id, None), (APP_ID, other_app_id), ("%00", None), ("x" * 65, None)):
        response = client.post(f"/retainful/v1/woocommerce/{app_id}/webhooks/checkout", data=body, headers={
            "Content-Type": "application/json", **({"App-Id": header} if header else {})})
        assert response.status_code == 401 and response.get_json()["success"] is False, (app_id, header)
        restore = client.get(f"/retainful/v1/woocommerce/{app_id}/abandoned_checkouts/{TOKEN}",
                             headers={"App-Id": header} if header else {})
        assert restore.status_code in (401, 404) and restore.get_json()["success"] is False
