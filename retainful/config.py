"""Settings, read from the environment with safe defaults.

Every setting is documented in the README's settings table. The embedded default is SQLite under the instance folder,
so a fresh checkout runs with no database server.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

MAX_BODY_BYTES = 256 * 1024


class ConfigError(RuntimeError):
    """A setting is missing or invalid; raised at start-up, never at request time."""


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs written the short way (SQLAlchemy 2.0 would otherwise want psycopg2)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _secret_key(instance_path: Path, production: bool) -> str:
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if production:
        raise ConfigError("SECRET_KEY must be set when RETAINFUL_ENV=production")
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def _provider_settings() -> dict:
    """Which providers send, and their credentials. With no credentials the sandbox records sends locally."""
    env = os.environ.get
    return {
        "EMAIL_PROVIDER": env("EMAIL_PROVIDER") or ("sendgrid" if env("SENDGRID_API_KEY") else "sandbox"),
        "SENDGRID_API_KEY": env("SENDGRID_API_KEY", ""),
        "SENDGRID_API_HOST": env("SENDGRID_API_HOST", "https://api.sendgrid.com").rstrip("/"),
        # Verifies SendGrid's signed Event Webhook (Mail Settings: the base64 public key); unset, events are refused.
        "SENDGRID_WEBHOOK_PUBLIC_KEY": env("SENDGRID_WEBHOOK_PUBLIC_KEY", "").strip(),
        "SMS_PROVIDER": env("SMS_PROVIDER") or ("vonage" if env("VONAGE_API_KEY") else "sandbox"),
        "VONAGE_API_KEY": env("VONAGE_API_KEY", ""),
        "VONAGE_API_SECRET": env("VONAGE_API_SECRET", ""),
        "VONAGE_REST_HOST": env("VONAGE_REST_HOST", "rest.nexmo.com"),
        "VONAGE_SIGNATURE_SECRET": env("VONAGE_SIGNATURE_SECRET", ""),  # verifies inbound SMS webhooks
        "PROVIDER_TIMEOUT_SECONDS": int(env("PROVIDER_TIMEOUT_SECONDS", "10")),
        "DISPATCH_BATCH_SIZE": int(env("DISPATCH_BATCH_SIZE", "200")),
        "DISPATCH_CONCURRENCY": int(env("DISPATCH_CONCURRENCY", "32")),
        "DISPATCH_LEASE_SECONDS": int(env("DISPATCH_LEASE_SECONDS", "300")),
        "DISPATCH_MAX_ATTEMPTS": int(env("DISPATCH_MAX_ATTEMPTS", "5")),
        # Test-sends per hour: each API key holder or admin user, and each store in all (live providers bill them).
        "TEST_SENDS_PER_USER_HOUR": int(env("TEST_SENDS_PER_USER_HOUR", "20")),
        "TEST_SENDS_PER_STORE_HOUR": int(env("TEST_SENDS_PER_STORE_HOUR", "60")),
    }


def load(instance_path: str) -> dict:
    """The app's configuration from the environment."""
    instance = Path(instance_path)
    env = os.environ.get("RETAINFUL_ENV", "development")
    production = env == "production"
    default_db = f"sqlite:///{instance / 'retainful.sqlite3'}"
    return {
        "RETAINFUL_ENV": env,
        "SECRET_KEY": _secret_key(instance, production),
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(os.environ.get("DATABASE_URL", default_db)),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO").upper(),
        "MAX_CONTENT_LENGTH": MAX_BODY_BYTES,
        **_provider_settings(),
        "JSON_SORT_KEYS": False,
    }
