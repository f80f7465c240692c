"""The official Retainful WooCommerce plugin connected to this service: credentials, its envelope (against vectors
made by PHP the plugin's way), and the endpoints it calls, with hostile input."""
import json
import re

from retainful.extensions import db
from retainful.models import Store


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
