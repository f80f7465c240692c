"""Our tracking script for the Retainful plugin's JS engine, in Debian's Chromium: a static page shaped like the
plugin's output (the localized ``retainful_cart_data``, the hidden ``#retainful-abandoned-cart-data`` element) served
from another origin than the service, so CORS is exercised for real. The cart must arrive in the service, and a cart
whose hash did not change must not be posted again."""
from __future__ import annotations

import html
import json
import os
from pathlib import Path

import pytest

from retainful.extensions import db
from retainful.plugin import crypto
from retainful.stores import create_store
from tests.browser import LiveServer
from tests.conftest import StoreClient, _empty_tables, make_app
from tests.plugin_vectors import APP_ID, SECRETS, envelope

TIMEOUT_MS = 15_000
SCRIPT_PATH = "/retainful/v1/woocommerce/retainful.js"
CHECKOUT_PATH = "/retainful/v1/woocommerce/webhooks/checkout"
JQUERY = Path("/usr/share/javascript/jquery/jquery.min.js")  # Debian's libjs-jquery, as WordPress ships jQuery
CART = json.loads(envelope("cart")["plaintext"])
TOKEN = CART["cart_token"]


@pytest.fixture
def service(browser, sqlite_url):
    """The app on 127.0.0.1:<port>, with a store holding the credentials the plugin vectors were sealed with."""
    app = make_app(sqlite_url)
    with app.app_context():
        issued = create_store("Acme", "acme.example")
        issued.store.retainful_app_id, issued.store.retainful_secret_key = APP_ID, SECRETS["store"]
        db.session.commit()
        store = StoreClient(app.test_client(), issued, issued.store.id)
    try:
        with LiveServer(app) as server:
            server.store = store
            yield server
    finally:
        _empty_tables(app)


class Shop:
    """The shop's web server on another port (another origin): the pages the test writes, and jQuery."""

    def __init__(self):
        self.pages: dict[str, str] = {}
        self.server = LiveServer(self.wsgi)
        self.url = self.server.url

    def wsgi(self, environ, start_response):
        path = environ["PATH_INFO"]
        if path == "/jquery.js" and JQUERY.exists():
            start_response("200 OK", [("Content-Type", "text/javascript")])
            return [JQUERY.read_bytes()]
        if path in self.pages:
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [self.pages[path].encode()]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]


@pytest.fixture
def shop():
    site = Shop()
    with site.server:
        yield site


def tracking_div(cart: dict, secret: str = SECRETS["store"]) -> str:
    """What the plugin prints in wp_footer: the token, the hash and the sealed cart, as PHP's json_encode writes."""
    sealed = crypto.seal(crypto.php_json(cart), secret)
    return html.escape(crypto.php_json({"cart_token": cart["cart_token"], "cart_hash": cart["cart_hash"],
                                        "data": sealed}), quote=False)


def shop_page(service, cart: dict | None = CART, jquery: bool = True, secret: str = SECRETS["store"],
              **settings) -> str:
    localized = {"ajax_url": "/wp-admin/admin-ajax.php", "jquery_url": "", "ip": "203.0.113.7",
                 "version": "2.6.31", "public_key": APP_ID, "api_url": service.url + CHECKOUT_PATH,
                 "tracking_element_selector": "retainful-abandoned-cart-data", "cart_tracking_engine": "js",
                 "billing_email": "", **settings}
    div = tracking_div(cart, secret) if cart is not None else ""
    return f"""<!doctype html><html><head><title>Cart - Acme</title>
<script>var retainful_cart_data = {json.dumps(localized)};</script>
{'<script src="/jquery.js"></script>' if jquery else ''}
</head><body class="woocommerce-cart"><h1>Cart</h1>
<div id="retainful-abandoned-cart-data" style="display:none">{div}</div>
<script src="{service.url}{SCRIPT_PATH}"></script>
</body></html>"""


@pytest.fixture
def tab(browser, service, shop):
    """A browser tab whose checkout posts are recorded (with their answers); any JavaScript error fails the test."""
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.posts, page.answers, page.problems = [], [], []
    checkout = service.url + CHECKOUT_PATH

    def on_request(request):
        if request.url == checkout and request.method == "POST":
            page.posts.append(request)

    page.on("request", on_request)
    page.on("response", lambda response: page.answers.append(response.status) if response.url == checkout else None)
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    page.on("requestfailed", lambda request: page.problems.append(f"{request.url} {request.failure}"))
    yield page
    context.close()
    assert not page.problems, page.problems


def settle(page, ms=600):
    """Let any post the script would make start (its posts are scheduled with setTimeout 0)."""
    page.evaluate("window.retainfulSelfHosted.sync()")
    page.wait_for_timeout(ms)


def open_shop(page, shop, html_page, path="/cart/"):
    shop.pages[path] = html_page
    checkout_answer = lambda response: response.url.endswith(CHECKOUT_PATH) and response.request.method == "POST"
    with page.expect_response(checkout_answer) as answer:
        page.goto(shop.url + path)
    return answer.value


def changed_cart(quantity: int, cart_hash: str) -> dict:
    lines = [dict(CART["line_items"][0], quantity=quantity), *CART["line_items"][1:]]
    return {**CART, "line_items": lines, "cart_hash": cart_hash, "updated_at": "2026-12-01T10:05:00+01:00"}


def mug_quantity(service) -> int:
    response = service.store.get_cart(TOKEN)
    assert response.status_code == 200, response.get_json()
    return next(item["quantity"] for item in response.get_json()["items"] if item["sku"] == "MUG-RED")


def test_the_script_posts_the_cart_cross_origin_and_only_when_its_hash_changes(tab, service, shop):
    if not JQUERY.exists():  # as the browser itself: a skip, or a failure with REQUIRE_BROWSER=1 (CI)
        (pytest.fail if os.environ.get("REQUIRE_BROWSER") == "1" else pytest.skip)(
            f"{JQUERY} is missing (apt-get install libjs-jquery; `make install-test` does it as root)")
    answer = open_shop(tab, shop, shop_page(service))
    assert answer.status == 200 and answer.json() == {"success": True}
    assert mug_quantity(service) == 2
    (post,) = tab.posts
    headers = post.headers
    assert headers["app-id"] == APP_ID and "app_id" not in headers  # servers drop underscore header names
    assert headers["x-cart-token"] == headers["cart-token"] == TOKEN and headers["x-retainful-version"] == "2.6.31"
    assert json.loads(post.post_data) == {"data": json.loads(tracking_div_data(tab))}

    # WooCommerce's events with the same cart (fragments refreshed, checkout updated) post nothing more.
    tab.evaluate("""jQuery(document.body).trigger('added_to_cart').trigger('wc_fragments_refreshed')
                    .trigger('updated_checkout'); document.dispatchEvent(new Event('visibilitychange'));""")
    settle(tab)
    assert len(tab.posts) == 1

    # The shopper adds a mug: the fragments bring a new hash, and updated_cart_totals posts it.
    div = tracking_div(changed_cart(3, "0f0e0d0c0b0a09080706050403020100"))
    with tab.expect_response(lambda response: response.url.endswith(CHECKOUT_PATH)) as second:
        tab.evaluate("""html => { jQuery('#retainful-abandoned-cart-data').html(html);
                                  jQuery(document.body).trigger('updated_cart_totals'); }""",
                     html.unescape(div))
    assert second.value.status == 200 and len(tab.posts) == 2
    assert mug_quantity(service) == 3


def tracking_div_data(page) -> str:
    return json.dumps(page.evaluate(
        "JSON.parse(document.getElementById('retainful-abandoned-cart-data').textContent).data"))


def test_without_jquery_the_script_posts_on_load_and_when_the_tab_is_hidden(tab, service, shop):
    answer = open_shop(tab, shop, shop_page(service, jquery=False))
    assert answer.status == 200 and mug_quantity(service) == 2
    div = html.unescape(tracking_div(changed_cart(5, "1f1e1d1c1b1a19181716151413121110")))
    tab.evaluate("html => { document.getElementById('retainful-abandoned-cart-data').textContent = html; }", div)
    with tab.expect_response(lambda response: response.url.endswith(CHECKOUT_PATH)):
        tab.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    assert mug_quantity(service) == 5 and len(tab.posts) == 2
    settle(tab)
    assert len(tab.posts) == 2


def test_a_cart_too_big_for_a_keepalive_request_still_arrives(tab, service, shop):
    """Browsers refuse keepalive bodies over 64 KiB; a long cart must not be lost (and retried forever) for that."""
    line = CART["line_items"][1]
    lines = [dict(line, key=f"{n:032x}", product_id=1000 + n, title=f"Tea no. {n} " + "\u2615" * 20)
             for n in range(150)]
    big = {**CART, "line_items": lines, "cart_hash": "2f2e2d2c2b2a29282726252423222120"}
    assert len(tracking_div(big)) > 70_000
    answer = open_shop(tab, shop, shop_page(service, cart=big, jquery=False))
    assert answer.status == 200, answer.text()
    assert service.store.get_cart(TOKEN).get_json()["item_count"] == 150
    settle(tab)
    assert len(tab.posts) == 1


def test_a_cart_sealed_with_another_secret_is_refused_once_and_not_retried(tab, service, shop):
    answer = open_shop(tab, shop, shop_page(service, jquery=False, secret=SECRETS["long"]))
    assert answer.status == 401 and answer.json()["success"] is False
    settle(tab)
    assert len(tab.posts) == 1 and service.store.get_cart(TOKEN).status_code == 404


@pytest.mark.parametrize("page_kind", ["no element", "not json", "php engine", "no app id"])
def test_nothing_is_posted_without_a_sealed_cart_or_settings(tab, service, shop, page_kind):
    page = {"no element": lambda: shop_page(service, cart=None, jquery=False),
            "not json": lambda: shop_page(service, jquery=False).replace('{"cart_token"', '{cart_token'),
            "php engine": lambda: shop_page(service, jquery=False, cart_tracking_engine="php"),
            "no app id": lambda: shop_page(service, jquery=False, public_key="")}[page_kind]()
    shop.pages["/cart/"] = page
    tab.goto(shop.url + "/cart/")
    settle(tab)
    assert tab.posts == [] and service.store.get_cart(TOKEN).status_code == 404


# --- the script as served ------------------------------------------------------------------------------------------

def test_the_script_is_javascript_cacheable_and_embeddable_by_any_shop(client):
    response = client.get(SCRIPT_PATH)
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    assert b"retainful_cart_data" in response.data and b"App-Id" in response.data
    assert response.headers["X-Content-Type-Options"] == "nosniff"  # so the type above must be right
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    again = client.get(SCRIPT_PATH, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert client.head(SCRIPT_PATH).status_code == 200
    # WordPress appends its version to enqueued scripts; a forged validator only gets the script again.
    assert client.get(SCRIPT_PATH + "?ver=2.6.31").data == response.data
    assert client.get(SCRIPT_PATH, headers={"If-None-Match": '"\x00forged"'}).status_code == 200


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_the_script_is_read_only(client, method):
    response = getattr(client, method)(SCRIPT_PATH, data=b"x" * 1000)
    assert response.status_code == 405 and response.get_json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("path", [SCRIPT_PATH + "%00", SCRIPT_PATH + "/../../../setup.cfg", SCRIPT_PATH[:-3] + ".py",
                                  "/retainful/v1/woocommerce/static/retainful.js"])
def test_nothing_else_is_served_from_the_package(client, path):
    assert client.get(path).status_code == 404
