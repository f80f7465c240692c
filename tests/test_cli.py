"""The `retainful` command group."""
import json
from datetime import timedelta

from click.testing import CliRunner

from retainful import clock
from retainful.cli import main
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
    assert set(issued) == {"id", "api_key", "webhook_secret"}
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


def test_worker_once_runs_every_job(runner, shop):
    shop.put_cart("a", cart_body())
    clock.advance(timedelta(hours=1))
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "abandon_sweep: 1 carts" in result.output
    assert "purge:" in result.output
    assert shop.get_cart("a").get_json()["status"] == "abandoned"
