"""Settings, read from the environment with safe defaults.

Every setting is documented in the README's settings table. The embedded default is SQLite under the instance folder,
so a fresh checkout runs with no database server.
"""
from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

MAX_BODY_BYTES = 256 * 1024
VONAGE_SIGNATURE_METHODS = ("md5hash", "md5", "sha1", "sha256", "sha512")  # the Vonage dashboard's choices


class ConfigError(RuntimeError):
    """A setting is missing or invalid; raised at start-up, never at request time."""


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs written the short way (SQLAlchemy 2.0 would otherwise want psycopg2)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


ENVIRONMENTS = ("development", "production")
LOG_FORMATS = ("text", "json")
MIN_SECRET_KEY_BYTES = 32  # sessions and unsubscribe links are signed with it: a short key can be guessed offline


def _secret_key(instance_path: Path, production: bool) -> str:
    key = os.environ.get("SECRET_KEY")
    if production and not key:
        raise ConfigError("SECRET_KEY must be set when RETAINFUL_ENV=production")
    if production and len(key.encode()) < MIN_SECRET_KEY_BYTES:
        raise ConfigError(f"SECRET_KEY must have at least {MIN_SECRET_KEY_BYTES} bytes when RETAINFUL_ENV=production "
                          "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')")
    if key:
        return key
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, default).strip().lower() or default
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _path_token(name: str) -> str:
    """A secret that is a URL path segment: long enough not to be guessed, and nothing a proxy would re-encode."""
    value = os.environ.get(name, "").strip()
    if value and not re.fullmatch(r"[A-Za-z0-9._~-]{16,200}", value):
        raise ConfigError(f"{name} must be 16 to 200 letters, digits or . _ ~ - (e.g. python -c "
                          f"'import secrets; print(secrets.token_urlsafe(24))')")
    return value


def _reply_domain() -> str:
    value = os.environ.get("REPLY_DOMAIN", "").strip().lower().rstrip(".")
    if value and not re.fullmatch(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", value):
        raise ConfigError(f"REPLY_DOMAIN must be a domain name such as reply.example.com, got {value!r}")
    return value


def _provider_settings(production: bool) -> dict:
    """Which providers send, and their credentials. Without credentials a channel is the sandbox (records sends
    locally) in development, and disabled in production: a live service must never pretend to send."""
    env = os.environ.get
    fallback = "disabled" if production else "sandbox"  # the sandbox in production only when chosen by name
    return {
        "EMAIL_PROVIDER": env("EMAIL_PROVIDER") or ("sendgrid" if env("SENDGRID_API_KEY") else fallback),
        "SENDGRID_API_KEY": env("SENDGRID_API_KEY", ""),
        "SENDGRID_API_HOST": env("SENDGRID_API_HOST", "https://api.sendgrid.com").rstrip("/"),
        # Verifies SendGrid's signed Event Webhook (Mail Settings: the base64 public key); unset, events are refused.
        "SENDGRID_WEBHOOK_PUBLIC_KEY": env("SENDGRID_WEBHOOK_PUBLIC_KEY", "").strip(),
        "SENDGRID_WEBHOOK_MAX_AGE_SECONDS": int(env("SENDGRID_WEBHOOK_MAX_AGE_SECONDS", "600")),
        "SMS_PROVIDER": env("SMS_PROVIDER") or ("vonage" if env("VONAGE_API_KEY") else fallback),
        "VONAGE_API_KEY": env("VONAGE_API_KEY", ""),
        "VONAGE_API_SECRET": env("VONAGE_API_SECRET", ""),
        "VONAGE_REST_HOST": env("VONAGE_REST_HOST", "rest.nexmo.com"),
        "VONAGE_SIGNATURE_SECRET": env("VONAGE_SIGNATURE_SECRET", ""),  # verifies inbound SMS webhooks
        "VONAGE_SIGNATURE_METHOD": _choice("VONAGE_SIGNATURE_METHOD", "sha256", VONAGE_SIGNATURE_METHODS),
        "VONAGE_INBOUND_TOKEN": _path_token("VONAGE_INBOUND_TOKEN"),  # the secret path for unsigned inbound webhooks
        # Replies by email: SendGrid Inbound Parse posts to /webhooks/sendgrid/inbound/<token>; every email we send
        # carries a Reply-To address at REPLY_DOMAIN (the domain whose MX points at Inbound Parse).
        "SENDGRID_INBOUND_TOKEN": _path_token("SENDGRID_INBOUND_TOKEN"),
        "REPLY_DOMAIN": _reply_domain(),
        "PROVIDER_TIMEOUT_SECONDS": int(env("PROVIDER_TIMEOUT_SECONDS", "10")),
        "DISPATCH_BATCH_SIZE": int(env("DISPATCH_BATCH_SIZE", "200")),
        "DISPATCH_CONCURRENCY": int(env("DISPATCH_CONCURRENCY", "32")),
        "DISPATCH_LEASE_SECONDS": int(env("DISPATCH_LEASE_SECONDS", "300")),
        "DISPATCH_MAX_ATTEMPTS": int(env("DISPATCH_MAX_ATTEMPTS", "5")),
        # Campaigns: recipients enqueued per transaction, and the messages per second a campaign's rows are spaced at
        # in the outbox (below what the workers drain, so messages of the automations due meanwhile wait seconds).
        "CAMPAIGN_BATCH_SIZE": int(env("CAMPAIGN_BATCH_SIZE", "1000")),
        "CAMPAIGN_SEND_RATE": float(env("CAMPAIGN_SEND_RATE", "100")),
        # Test-sends per hour: each API key holder or admin user, and each store in all (live providers bill them).
        "TEST_SENDS_PER_USER_HOUR": int(env("TEST_SENDS_PER_USER_HOUR", "20")),
        "TEST_SENDS_PER_STORE_HOUR": int(env("TEST_SENDS_PER_STORE_HOUR", "60")),
    }


def _shop_settings() -> dict:
    """Requests to the stores' shops: which addresses they may reach, and the order pull's bounds per store and run."""
    env = os.environ.get
    return {
        # Tests and local development only: http and private/loopback shop addresses (refused otherwise: SSRF).
        "ALLOW_PRIVATE_SHOP_URLS": env("ALLOW_PRIVATE_SHOP_URLS", "") == "1",
        "WOO_PULL_MAX_PAGES": max(2, int(env("WOO_PULL_MAX_PAGES", "20"))),  # 2+: a resumed pull re-reads a page
        "WOO_PULL_SECONDS_PER_STORE": max(1.0, float(env("WOO_PULL_SECONDS_PER_STORE", "60"))),
        "WOO_PULL_CONCURRENCY": max(1, int(env("WOO_PULL_CONCURRENCY", "4"))),
    }


def _whole_number(name: str, default: int, minimum: int, maximum: int) -> int:
    raw = os.environ.get(name, "").strip() or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name} must be between {minimum} and {maximum}")
    return value


def load(instance_path: str) -> dict:
    """The app's configuration from the environment."""
    instance = Path(instance_path)
    # RETAINFUL_ENV in any case; a value we do not know is an error, never a silent development setup.
    env = _choice("RETAINFUL_ENV", "development", ENVIRONMENTS)
    production = env == "production"
    default_db = f"sqlite:///{instance / 'retainful.sqlite3'}"
    return {
        "RETAINFUL_ENV": env,
        "SECRET_KEY": _secret_key(instance, production),
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(os.environ.get("DATABASE_URL", default_db)),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO").upper(),
        "LOG_FORMAT": _choice("LOG_FORMAT", "text", LOG_FORMATS),  # json: one object per line, for log shippers
        # /metrics with this bearer token; unset, /metrics answers loopback clients only.
        "METRICS_TOKEN": _path_token("METRICS_TOKEN"),
        "MAX_CONTENT_LENGTH": MAX_BODY_BYTES,
        # How long a web request waits for a database lock before its 503 + Retry-After frees the thread. Positive:
        # 0 would mean "no wait" to SQLite but "wait forever" to PostgreSQL.
        "WEB_LOCK_TIMEOUT_MS": _whole_number("WEB_LOCK_TIMEOUT_MS", 500, 1, 600_000),
        # An admin session idle this long must log in again (checked on the server, not only by the cookie's age).
        "ADMIN_SESSION_HOURS": _whole_number("ADMIN_SESSION_HOURS", 12, 1, 24 * 366),
        # Proxies in front of the app whose X-Forwarded-For is trusted for the client address (login throttling).
        "TRUSTED_PROXY_COUNT": _whole_number("TRUSTED_PROXY_COUNT", 0, 0, 10),
        **_provider_settings(production),
        **_shop_settings(),
        "JSON_SORT_KEYS": False,
    }
