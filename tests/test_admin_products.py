"""The admin's products: the list and form scoped to the current store, replenish_after_days checked with clear
messages (what was typed kept), marketers read but do not save, another store's product is 404."""
from __future__ import annotations

import pytest

from retainful.extensions import db
from retainful.models import Product, Role
from tests.test_admin import add_user, logged_in, post, text


@pytest.fixture
def two_stores(app, shop, make_store):
    other = make_store(name="Other Shop", domain="other.example")
    for store, name in ((shop, "Coffee beans"), (other, "Their beans")):
        answer = store.client.put("/api/v1/products/101", json={"name": name, "replenish_after_days": 30},
                                  headers=store.headers)
        assert answer.status_code == 201
    with app.app_context():
        rows = {p.store_id: p.id for p in db.session.query(Product)}
    return {"mine": rows[shop.store_id], "theirs": rows[other.store_id],
            "owner": add_user(app, "owner@acme.test", Role.OWNER, [shop.store_id]),
            "marketer": add_user(app, "marketer@acme.test", Role.MARKETER, [shop.store_id])}


def product(app, row_id):
    with app.app_context():
        found = db.session.get(Product, row_id)
        return found.name, found.replenish_after_days


def test_the_list_shows_the_current_stores_products(app, two_stores):
    page = text(logged_in(app, two_stores["owner"]).get("/admin/products/"))
    assert f'data-product-id="{two_stores["mine"]}"' in page and "Coffee beans" in page and "30 days" in page
    assert "Their beans" not in page
    found = text(logged_in(app, two_stores["owner"]).get("/admin/products/?q=coffee"))
    assert "Coffee beans" in found


def test_an_owner_edits_and_creates_with_bounds_and_help(app, two_stores):
    client = logged_in(app, two_stores["owner"])
    form = text(client.get(f"/admin/products/{two_stores['mine']}"))
    assert 'min="1"' in form and 'max="365"' in form and 'id="replenish_after_days-help"' in form
    saved = post(client, f"/admin/products/{two_stores['mine']}", {"name": "Coffee beans 1 kg",
                                                                    "replenish_after_days": "45"})
    assert saved.status_code == 302 and product(app, two_stores["mine"]) == ("Coffee beans 1 kg", 45)
    cleared = post(client, f"/admin/products/{two_stores['mine']}", {"name": "Coffee beans 1 kg",
                                                                      "replenish_after_days": ""})
    assert cleared.status_code == 302 and product(app, two_stores["mine"]) == ("Coffee beans 1 kg", None)
    created = post(client, "/admin/products/new", {"product_id": "202", "name": "Filters",
                                                   "replenish_after_days": "90"})
    assert created.status_code == 302 and "Filters" in text(client.get("/admin/products/"))


@pytest.mark.parametrize("days, message", [("0", "Between 1 and 365"), ("366", "Between 1 and 365"),
                                           ("ten", "a whole number"), ("9" * 30, "Between 1 and 365")])
def test_bad_days_are_400_with_the_field_named_and_the_input_kept(app, two_stores, days, message):
    client = logged_in(app, two_stores["owner"])
    answer = post(client, f"/admin/products/{two_stores['mine']}", {"name": "Renamed", "replenish_after_days": days})
    assert answer.status_code == 400
    page = text(answer)
    assert message.lower() in page.lower() and 'is-invalid' in page and 'value="Renamed"' in page
    assert product(app, two_stores["mine"]) == ("Coffee beans", 30)


def test_hostile_input_is_refused(app, two_stores):
    client = logged_in(app, two_stores["owner"])
    for data in ({"name": "a\x00b", "replenish_after_days": "3"}, {"name": "", "replenish_after_days": "3"},
                 {"name": "x" * 301, "replenish_after_days": "3"}):
        assert post(client, f"/admin/products/{two_stores['mine']}", data).status_code == 400
    assert post(client, "/admin/products/new", {"product_id": "a\x01b", "name": "X"}).status_code == 400
    assert product(app, two_stores["mine"]) == ("Coffee beans", 30)


def test_marketers_read_but_cannot_save_and_other_stores_are_404(app, two_stores):
    marketer = logged_in(app, two_stores["marketer"])
    assert marketer.get(f"/admin/products/{two_stores['mine']}").status_code == 200
    assert 'id="save-product"' not in text(marketer.get(f"/admin/products/{two_stores['mine']}"))
    assert post(marketer, f"/admin/products/{two_stores['mine']}", {"name": "X", "replenish_after_days": "3"}
                ).status_code == 403
    assert marketer.get("/admin/products/new").status_code == 403
    owner = logged_in(app, two_stores["owner"])
    assert owner.get(f"/admin/products/{two_stores['theirs']}").status_code == 404
    assert post(owner, f"/admin/products/{two_stores['theirs']}", {"name": "X", "replenish_after_days": "3"}
                ).status_code == 404
    assert product(app, two_stores["theirs"]) == ("Their beans", 30)
