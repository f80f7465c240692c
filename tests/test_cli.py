"""The `retainful` command group."""
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from retainful import clock, stores
from retainful.cli import main
from retainful.extensions import db
from retainful.models import Store
from tests.conftest import cart_body


def test_help_lists_every_command():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("create-store", "rotate-key", "demo-store", "serve", "worker", "db"):
        assert command in result.output


def test_create_store_json_key_works_against_the_api(runner, client):
    result = runner.invoke(args=["create-store", "--name", "Tea Shop", "--domain", "https://Tea.example/",
                                 "--timezone", "Europe/Berlin", "--currency", "eur", "--json"])
    assert result.exit_code == 0, result.output
    issued = json.loads(result.output)
    assert set(issued) == {"id", "api_key", "webhook_secret", "retainful_app_id", "retainful_secret_key"}
    assert len(issued["api_key"]) >= 43
    response = client.put("/api/v1/carts/x", json=cart_body(currency="EUR", recovery_url="https://tea.example/c"),
                          headers={"Authorization": f"Bearer {issued['api_key']}"})
    assert response.status_code == 201


def test_create_store_plain_output_and_bad_settings(runner):
    result = runner.invoke(args=["create-store", "--name", "A", "--domain", "a.example"])
    assert result.exit_code == 0 and "api key:" in result.output and "webhook secret:" in result.output
    bad = runner.invoke(args=["create-store", "--name", "A", "--domain", "a.example", "--timezone", "Mars/Base"])
    assert bad.exit_code != 0 and "timezone" in bad.output


def test_rotate_key_stops_the_old_key_at_once(runner, client, shop):
    old = shop.headers
    result = runner.invoke(args=["rotate-key", str(shop.store_id)])
    assert result.exit_code == 0
    new_key = result.output.strip()
    assert client.get("/api/v1/carts/x", headers=old).status_code == 401
    assert client.get("/api/v1/carts/x", headers={"Authorization": f"Bearer {new_key}"}).status_code == 404
    assert runner.invoke(args=["rotate-key", "999"]).exit_code != 0


def test_demo_store_is_created_once(runner, app, tmp_path):
    app.instance_path = str(tmp_path)
    first = runner.invoke(args=["demo-store"])
    assert "Created demo store" in first.output
    key = first.output.strip().rsplit(" ", 1)[-1]
    again = runner.invoke(args=["demo-store"])
    assert key in again.output and "Created" not in again.output


def test_demo_store_prints_the_current_key_after_rotate_key(runner, app, client, tmp_path):
    app.instance_path = str(tmp_path)
    old_key = runner.invoke(args=["demo-store"]).output.strip().rsplit(" ", 1)[-1]
    store_id = json.loads((tmp_path / "demo-store.json").read_text())["id"]
    new_key = runner.invoke(args=["rotate-key", str(store_id)]).output.strip()
    shown = runner.invoke(args=["demo-store"]).output
    assert new_key in shown and old_key not in shown
    assert client.get("/api/v1/carts/x", headers={"Authorization": f"Bearer {new_key}"}).status_code == 404  # works


def test_demo_store_says_when_its_key_was_rotated_elsewhere(runner, app, tmp_path):
    app.instance_path = str(tmp_path)
    old_key = runner.invoke(args=["demo-store"]).output.strip().rsplit(" ", 1)[-1]
    with app.app_context():
        (store,) = db.session.scalars(sa.select(Store)).all()
        stores.rotate_key(store)  # as the admin panel's "rotate key" does
    shown = runner.invoke(args=["demo-store"])
    assert shown.exit_code == 0 and old_key not in shown.output
    assert "its API key was rotated" in shown.output and f"retainful rotate-key {store.id}" in shown.output


def test_demo_store_prints_no_key_for_a_store_that_is_gone(runner, app, tmp_path, shop):
    app.instance_path = str(tmp_path)
    (tmp_path / "demo-store.json").write_text(json.dumps({"id": 999, "api_key": "rtf_gone"}))
    shown = runner.invoke(args=["demo-store"]).output
    assert "rtf_gone" not in shown and "Demo store 999 no longer exists" in shown


def test_worker_once_runs_every_job(runner, shop):
    shop.put_cart("a", cart_body())
    clock.advance(timedelta(hours=1))
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "abandon_sweep: 1 carts" in result.output
    assert "purge:" in result.output
    assert shop.get_cart("a").get_json()["status"] == "abandoned"


def test_sequence_show_and_edit(runner, shop):
    shown = json.loads(runner.invoke(args=["sequence", "show", str(shop.store_id), "--json"]).output)
    assert [(s["delay"], s["email"], s["sms"]) for s in shown["steps"]] == [
        ("30m", True, True), ("6h", True, False), ("2d", True, False), ("4d", True, False), ("1w", True, False)]
    edited = runner.invoke(args=["sequence", "set-step", str(shop.store_id), "2", "--delay", "8h", "--sms",
                                 "--json"])
    assert edited.exit_code == 0, edited.output
    step2 = json.loads(edited.output)["steps"][1]
    assert (step2["delay_minutes"], step2["sms"]) == (480, True)
    off = runner.invoke(args=["sequence", "set-step", str(shop.store_id), "5", "--disable"])
    assert off.exit_code == 0 and "no" in off.output.splitlines()[-1]
    bad = runner.invoke(args=["sequence", "set-step", str(shop.store_id), "3", "--delay", "1h"])
    assert bad.exit_code != 0 and "previous step" in bad.output


def test_configure_store(runner, app, shop):
    from retainful.extensions import db
    from retainful.models import Store

    result = runner.invoke(args=["configure-store", str(shop.store_id), "--pause", "--sender-email",
                                 "hello@acme.example", "--quiet-hours", "20-9", "--email-cap-hours", "0"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        assert (store.paused, store.sender_email, store.quiet_hours_start, store.quiet_hours_end,
                store.email_cap_hours) == (True, "hello@acme.example", 20, 9, 0)
    bad = runner.invoke(args=["configure-store", str(shop.store_id), "--quiet-hours", "25-8"])
    assert bad.exit_code != 0 and "quiet_hours_start" in bad.output


@pytest.mark.parametrize("url, message", [
    ("http://shop.acme.example", "woo_url: must use https"),  # the CLI took any URL; the admin refused this one
    ("https://169.254.169.254", "woo_url: refused: the host has a private"),
    ("https://10.0.0.5:8443", "woo_url: refused: the host has a private"),
])
def test_configure_store_checks_the_woocommerce_connection_like_the_admin(runner, app, shop, url, message):
    from retainful.extensions import db
    from retainful.models import Store

    bad = runner.invoke(args=["configure-store", str(shop.store_id), "--pause", "--woo-url", url,
                              "--woo-consumer-key", "ck_1", "--woo-consumer-secret", "cs_1"])
    assert bad.exit_code != 0 and message in bad.output
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        assert (store.woo_url, store.paused) == (None, False)  # nothing saved, not even the other setting
    good = runner.invoke(args=["configure-store", str(shop.store_id), "--pause", "--woo-url",
                               "https://shop.acme.example/", "--woo-consumer-key", "ck_1", "--woo-consumer-secret",
                               "cs_1"])
    assert good.exit_code == 0 and "paused, woo_consumer_key, woo_consumer_secret, woo_url" in good.output
    key_only = runner.invoke(args=["configure-store", str(shop.store_id), "--woo-consumer-key", "ck_2"])
    assert key_only.exit_code == 0, key_only.output
    with app.app_context():
        store = db.session.get(Store, shop.store_id)
        assert (store.woo_url, store.woo_consumer_key, store.woo_consumer_secret, store.paused) == (
            "https://shop.acme.example", "ck_2", "cs_1", True)
