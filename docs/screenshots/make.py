"""Screenshots of the admin's main pages at 1366 and 390 px, for the README's gallery: ``docs/screenshots/*.png``.

    .venv/bin/python docs/screenshots/make.py

Seeds a store in a throw-away SQLite database (the browser tests' two weeks of carts, messages and orders, and a
shopper's SMS reply for the inbox), serves the real app on a local port and captures each page with Debian's
Chromium (Playwright, never a downloaded browser), cut at MAX_HEIGHT so the files stay small. Nothing leaves the
machine: the email preview's product images are grey squares.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the tests' seed and live server

from playwright.sync_api import sync_playwright  # noqa: E402

from retainful import clock, conversations  # noqa: E402
from retainful.extensions import db  # noqa: E402
from retainful.models import Customer  # noqa: E402
from tests.browser import LiveServer, launch_chromium  # noqa: E402
from tests.conftest import T0, make_app  # noqa: E402
from tests.test_admin_browser import OWNER, PASSWORD, PLACEHOLDER_IMAGE, build_world  # noqa: E402

OUT = Path(__file__).resolve().parent
WIDTHS = (1366, 390)
MAX_HEIGHT = 1200
PAGES = {  # file name: path ({cart} is Carol's abandoned cart)
    "dashboard": "/admin/",
    "carts": "/admin/carts/",
    "cart": "/admin/carts/{cart}",
    "messages": "/admin/messages/",
    "sequence": "/admin/sequence/",
    "automations": "/admin/automations/",
    "template-editor": "/admin/templates/edit/email/abandoned_cart/step1",
    "reports": "/admin/reports/",
    "settings": "/admin/settings/",
    "inbox": "/admin/inbox/{conversation}",
}


def seed(app) -> dict:
    world = build_world(app, history=True)
    with app.app_context():
        carol = db.session.query(Customer).filter_by(email="carol@acme.example").one()
        message = conversations.receive(carol, "sms", "Is shipping free over $50? The fee surprised me.",
                                        provider_message_id="shot-1")
    return {"cart": world["carol_cart"], "conversation": message.conversation_id}


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
