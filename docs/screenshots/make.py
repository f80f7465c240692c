"""Screenshots of the admin's main pages at 1366 and 390 px, for the README's gallery: ``docs/screenshots/*.png``.

    .venv/bin/python docs/screenshots/make.py

Seeds a store in a throw-away SQLite database with ``retainful demo-data``'s history (DAYS days of carts, orders,
messages, clicks, coupons and conversations; recovery switched on halfway), a campaign, an A/B test, a teammate
and three products with reorder delays, serves the real app on a local port and captures each page with Debian's
Chromium (Playwright, never a downloaded browser), cut at MAX_HEIGHT so the files stay small. Nothing leaves the
machine: the email preview's product images are grey squares.
"""
from __future__ import annotations

import sys
import tempfile
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the tests' live server and Chromium launcher

import sqlalchemy as sa  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from retainful import clock, demo, experiments, people, products, users  # noqa: E402
from retainful.campaigns import service as campaigns  # noqa: E402
from retainful.extensions import db  # noqa: E402
from retainful.models import Cart, Conversation, Role, Store  # noqa: E402
from retainful.stores import create_store  # noqa: E402
from retainful.urls import public_urls  # noqa: E402
from tests.browser import LiveServer, launch_chromium  # noqa: E402
from tests.conftest import T0, make_app  # noqa: E402
from tests.test_admin_browser import PLACEHOLDER_IMAGE  # noqa: E402

OUT = Path(__file__).resolve().parent
WIDTHS = (1366, 390)
MAX_HEIGHT = 1200
DAYS = 60
OWNER, PASSWORD = "owner@example.com", "screenshots only"
PAGES = {  # file name: path ({cart}: the latest abandoned cart; {conversation}, {campaign}, {experiment}: seed()'s)
    "dashboard": "/admin/",
    "carts": "/admin/carts/",
    "cart": "/admin/carts/{cart}",
    "customers": "/admin/customers/",
    "messages": "/admin/messages/",
    "sequence": "/admin/sequence/",
    "automations": "/admin/automations/",
    "template-editor": "/admin/templates/edit/email/abandoned_cart/step1",
    "campaigns": "/admin/campaigns/",
    "campaign-editor": "/admin/campaigns/new",
    "campaign": "/admin/campaigns/{campaign}",
    "experiments": "/admin/experiments/",
    "experiment": "/admin/experiments/{experiment}",
    "reports": "/admin/reports/",
    "products": "/admin/products/",
    "people": "/admin/people/",
    "account": "/admin/account",
    "settings": "/admin/settings/",
    "inbox": "/admin/inbox/{conversation}",
}
# Products with a reorder delay, for the products page (ids and names from the demo's catalogue).
REORDERED = (("beans-house", "House blend beans, 1 kg", 30), ("filters", "Paper filters (100)", 60),
             ("beans-single", "Single-origin beans, 250 g", 21))


def seed(app) -> dict:
    with app.test_request_context():
        store = create_store("Acme Mugs", "acme.example", country="US", timezone="America/New_York").store
        owner = users.create_user(OWNER, PASSWORD, Role.OWNER, [store.id])
        users.create_user("sam@acme.example", PASSWORD, Role.AGENT, [store.id])
        demo.generate(store, days=DAYS)
        store = db.session.get(Store, store.id)
        campaign = campaigns.create(store, campaigns.parse(
            {"name": "Autumn blend is here", "channels": ["email", "sms"], "segment": {"country": ["US"]},
             "send_at": (clock.now() + timedelta(days=3)).strftime("%Y-%m-%dT10:00:00")}), author="owner").id
        variants = [{"name": "Control", "weight": 1},
                    {"name": "A friendlier reminder", "weight": 1,
                     "templates": {"email": {"key": "abandoned_cart/step2"}}}]
        experiment = experiments.create(store, public_urls(app), subject={"automation": "abandoned_cart", "step": 1},
                                        variants=variants).id
        for product_id, name, days in REORDERED:
            products.save_product(store, product_id, name, days)
        people.invite(store, owner, "alex@acme.example", "marketer")
        cart = db.session.scalar(sa.select(Cart.id).where(Cart.store_id == store.id, Cart.status == "abandoned")
                                 .order_by(Cart.id.desc()).limit(1))
        conversation = db.session.scalar(sa.select(Conversation.id).where(Conversation.store_id == store.id)
                                         .order_by(Conversation.id.desc()).limit(1))
    return {"cart": cart, "conversation": conversation, "campaign": campaign, "experiment": experiment}


def _offline(route) -> None:
    if route.request.resource_type == "image":
        route.fulfill(status=200, content_type="image/svg+xml", body=PLACEHOLDER_IMAGE)
    else:
        route.abort("blockedbyclient")


def capture(server, ids: dict, browser, width: int) -> list[Path]:
    context = browser.new_context(base_url=server.url, viewport={"width": width, "height": 900})
    context.route(lambda url: not url.startswith(server.url + "/"), _offline)
    page = context.new_page()
    page.goto("/admin/login")
    page.fill("#email", OWNER)
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    page.wait_for_selector("#current-user", state="attached")
    shots = []
    for name, path in PAGES.items():
        page.goto(path.format(**ids))
        if name == "template-editor":
            page.wait_for_selector("#template-editor[data-preview-state=ready]")
        height = min(page.evaluate("document.documentElement.scrollHeight"), MAX_HEIGHT)
        shot = OUT / f"{name}-{width}.png"
        page.screenshot(path=str(shot), full_page=True, clip={"x": 0, "y": 0, "width": width, "height": height})
        shots.append(shot)
    context.close()
    return shots


def main() -> None:
    clock.freeze(T0)
    with tempfile.TemporaryDirectory() as folder:
        app = make_app(f"sqlite:///{folder}/screenshots.sqlite3")
        ids = seed(app)
        with LiveServer(app) as server, sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                for width in WIDTHS:
                    for shot in capture(server, ids, browser, width):
                        print(f"{shot.relative_to(ROOT)} ({shot.stat().st_size // 1024} KiB)")
            finally:
                browser.close()


if __name__ == "__main__":
    main()
