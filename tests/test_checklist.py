"""The dashboard's first-run checklist: each item flips when the store really does it, and the list goes when all
are done."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from retainful import clock, stores
from retainful.extensions import db
from retainful.models import Role, Store
from retainful.stores import checklist
from tests.conftest import cart_body
from tests.test_admin import add_user, csrf_token, logged_in, post, text

ITEMS = ["store_connected", "sender_set", "test_send", "sequence_reviewed", "automations_chosen"]


def _done(client) -> dict[str, str]:
    page = text(client.get("/admin/"))
    return dict(re.findall(r'data-item="(\w+)" data-done="(yes|no)"', page))


@pytest.fixture
def owner(app, shop):
    return logged_in(app, add_user(app, "owner@acme.test", Role.OWNER, [shop.store_id]))


def test_each_item_flips_as_it_happens_and_the_list_goes_when_all_are_done(app, shop, owner):
    assert _done(owner) == dict.fromkeys(ITEMS, "no")
    page = text(owner.get("/admin/"))
    assert 'id="checklist"' in page and "0 of 5 done" in page
    assert 'href="/admin/settings/#retainful-plugin"' in page and 'href="/admin/sequence/#sequence-review"' in page

    assert shop.put_cart("c1", cart_body(recovery_url="https://acme.example/cart")).status_code in (200, 201)
    assert _done(owner)["store_connected"] == "yes"

    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        stores.update_settings(store, sender_email="hello@acme.example")
    assert _done(owner)["sender_set"] == "no"  # the postal address is missing still
    with app.app_context():
        stores.update_settings(db.session.get(Store, shop.store_id), postal_address="1 Main St, Springfield")
    assert _done(owner)["sender_set"] == "yes"

    token = csrf_token(owner)
    sent = post(owner, "/admin/templates/test-send/email/abandoned_cart/step1", {"to": "me@acme.example"}, token)
    assert sent.status_code == 200
    assert _done(owner)["test_send"] == "yes"

    reviewed = post(owner, "/admin/sequence/reviewed", token=token, follow_redirects=True)
    assert "Sequence confirmed." in text(reviewed) and "Confirmed " in text(reviewed)
    assert _done(owner)["sequence_reviewed"] == "yes"
    assert "4 of 5 done" in text(owner.get("/admin/"))

    post(owner, "/admin/automations/win_back/switch", {"enabled": "1"}, token)
    assert _done(owner) == {}
    assert 'id="checklist"' not in text(owner.get("/admin/"))


def test_a_saved_step_reviews_the_sequence_and_a_confirmation_chooses_automations(app, shop, owner):
    token = csrf_token(owner)
    saved = post(owner, "/admin/sequence/step/1/toggle", {}, token)
    assert saved.status_code == 302
    kept = post(owner, "/admin/automations/chosen", token=token, follow_redirects=True)
    assert "Automations confirmed." in text(kept)
    assert {k: v for k, v in _done(owner).items() if k in ("sequence_reviewed", "automations_chosen")} == {
        "sequence_reviewed": "yes", "automations_chosen": "yes"}
    with app.app_context():
        first = db.session.get(Store, shop.store_id).automations_chosen_at
    clock.advance(timedelta(hours=1))
    post(owner, "/admin/automations/chosen", token=token)
    with app.app_context():
        assert db.session.get(Store, shop.store_id).automations_chosen_at == first  # the first time is kept


def test_a_plugin_connect_call_connects_the_store(app, shop):
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        assert not dict((i.key, i.done) for i in checklist.items(store))["store_connected"]
        store.retainful_connected_at = clock.now()
        db.session.commit()
        assert dict((i.key, i.done) for i in checklist.items(store))["store_connected"]


def test_only_owners_confirm_and_a_forged_form_is_refused(app, shop, owner):
    marketer = logged_in(app, add_user(app, "marketer@acme.test", Role.MARKETER, [shop.store_id]))
    token = csrf_token(marketer)
    assert post(marketer, "/admin/sequence/reviewed", token=token).status_code == 403
    assert post(marketer, "/admin/automations/chosen", token=token).status_code == 403
    assert 'id="sequence-looks-good"' not in text(marketer.get("/admin/sequence/"))
    assert owner.post("/admin/sequence/reviewed", data={"csrf_token": "forged"}).status_code == 400
    assert owner.post("/admin/automations/chosen").status_code == 400
    assert logged_in(app, add_user(app, "x@acme.test", Role.OWNER, [])).post(
        "/admin/sequence/reviewed").status_code in (302, 400, 403)
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        assert store.sequence_reviewed_at is None and store.automations_chosen_at is None
    owner_token = csrf_token(owner)
    for path in ("/admin/sequence/reviewed", "/admin/automations/chosen"):
        assert post(owner, path, {"note": "a\x00b"}, owner_token).status_code == 400
        for body in ("note=%ED%A0%80", "note[]=1&note[]=2", "csrf_token=twice"):  # ignored fields: never a 500
            answer = owner.post(path, data=f"csrf_token={owner_token}&{body}",
                                content_type="application/x-www-form-urlencoded")
            assert answer.status_code in (302, 400), (path, body, answer.status_code)
        huge = owner.post(path, data=f"csrf_token={owner_token}&note={'x' * app.config['MAX_CONTENT_LENGTH']}",
                          content_type="application/x-www-form-urlencoded")
        assert huge.status_code == 413
