"""The admin's error pages (admin/error_pages.py) through the test client, on both databases: 403, 404, 405, a
refused CSRF token and an unexpected exception answer a page inside the admin's frame with a way back, while the
API's errors stay JSON; the 500 page renders even when the database session is broken."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from retainful.extensions import db
from retainful.models import Role
from tests.test_admin import add_user, logged_in, text

SAME_SITE = "http://localhost/admin/carts/"


def framed(response, status: int) -> str:
    """The page, after checking it is the framed error page for ``status``."""
    html = text(response)
    assert response.status_code == status and response.content_type.startswith("text/html"), response.status_code
    assert f'id="error-page" data-status="{status}"' in html and 'id="error-home" href="/admin/"' in html
    assert 'class="navbar navbar-expand-xl' in html and "/admin/assets/admin.css" in html  # the admin's frame
    assert response.headers["Cache-Control"] == "no-store"
    return html


@pytest.fixture
def marketer(app, shop):
    return logged_in(app, add_user(app, "marketer@acme.test", Role.MARKETER, [shop.store_id]))


def test_403_404_and_405_are_pages_in_the_frame_with_a_way_back(marketer):
    html = framed(marketer.get("/admin/settings/", headers={"Referer": SAME_SITE}), 403)
    assert "You do not have access to this page" in html and f'id="error-back" href="{SAME_SITE}"' in html
    assert 'id="current-user"' in html and 'href="/admin/carts/"' in html  # the menu and the user, as on any page
    html = framed(marketer.get("/admin/carts/999999", headers={"Referer": "https://evil.example/admin/"}), 404)
    assert "This page does not exist" in html and 'id="error-back"' not in html  # no way "back" to another site
    framed(marketer.get("/admin/no-such-page"), 404)
    refused = marketer.get("/admin/settings/general")
    framed(refused, 405)
    assert set(refused.headers["Allow"].split(", ")) == {"OPTIONS", "POST"}


def test_anonymous_404_is_framed_without_a_menu(client):
    html = framed(client.get("/admin/nothing-here"), 404)
    assert 'id="current-user"' not in html and 'href="/admin/carts/"' not in html


def test_a_refused_csrf_token_is_a_page_in_the_frame(marketer):
    html = framed(marketer.post("/admin/logout", data={}, headers={"Referer": SAME_SITE}), 400)
    assert "CSRF protection" in html and "Nothing was changed" in html and f'href="{SAME_SITE}"' in html


def test_the_api_and_the_shopper_pages_keep_their_own_errors(client):
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.get_json()["error"]["code"] == "not_found"
    public = client.get("/no-such-page")
    assert public.status_code == 404 and 'id="error-page"' not in text(public)


@pytest.fixture
def raising_app(app):
    """The app with two /admin routes that fail: a plain bug, and a bug that leaves the database session broken."""
    app.config["PROPAGATE_EXCEPTIONS"] = False  # TESTING propagates; production answers with the handler

    def bug():
        raise RuntimeError("a bug")

    def broken_session():
        db.session.execute(sa.text("SELECT * FROM no_such_table"))

    app.add_url_rule("/admin/test-bug", "test_bug", bug)
    app.add_url_rule("/admin/test-broken-session", "test_broken_session", broken_session)
    return app


def test_an_unexpected_error_is_a_500_page_in_the_frame_that_reads_no_data(raising_app, shop, caplog):
    owner = logged_in(raising_app, add_user(raising_app, "owner@acme.test", Role.OWNER, [shop.store_id]))
    for path in ("/admin/test-bug", "/admin/test-broken-session"):
        html = framed(owner.get(path), 500)
        assert "Something went wrong on our side" in html
        assert 'id="store-select"' not in html and 'href="/admin/carts/"' not in html  # nothing read from the DB
    assert "unhandled error on GET /admin/test-bug" in caplog.text
    assert owner.get("/admin/carts/").status_code == 200  # the session was rolled back: the next request works


def test_a_500_page_that_cannot_render_falls_back_to_plain_html(raising_app, monkeypatch):
    monkeypatch.setitem(raising_app.extensions, "admin", [])  # no admin view to draw the frame with
    response = raising_app.test_client().get("/admin/test-bug")
    html = text(response)
    assert response.status_code == 500 and "Something went wrong on our side" in html
    assert '<a href="/admin/">Dashboard</a>' in html and 'id="error-page"' not in html
