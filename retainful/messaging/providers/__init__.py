"""Email and SMS providers behind one small interface, and the factories that build them from app.config.

Settings (see ``retainful.config._provider_settings``): EMAIL_PROVIDER (sandbox | sendgrid | disabled) with
SENDGRID_API_KEY and SENDGRID_API_HOST; SMS_PROVIDER (sandbox | vonage | disabled) with VONAGE_API_KEY,
VONAGE_API_SECRET and VONAGE_REST_HOST; PROVIDER_TIMEOUT_SECONDS for both. A provider that is selected but
misconfigured raises ProviderConfigError when built, so the worker can refuse to start instead of failing every send.
In production a channel without credentials defaults to ``disabled`` (its messages are skipped), not to the sandbox.
"""
from __future__ import annotations

from collections.abc import Mapping

from .base import (EmailProvider, OutgoingEmail, OutgoingSms, ProviderConfigError, ProviderError, SendResult,
                   SmsProvider)
from .disabled import NAME as DISABLED, DisabledProvider
from .sandbox import SandboxEmailProvider, SandboxSmsProvider

__all__ = [
    "EmailProvider", "OutgoingEmail", "OutgoingSms", "ProviderConfigError", "ProviderError", "SendResult",
    "SmsProvider", "SandboxEmailProvider", "SandboxSmsProvider", "EMAIL_PROVIDERS", "SMS_PROVIDERS",
    "DISABLED", "DisabledProvider", "email_provider", "sms_provider", "check_providers",
]

EMAIL_PROVIDERS = ("sandbox", "sendgrid", DISABLED)
SMS_PROVIDERS = ("sandbox", "vonage", DISABLED)
DEFAULT_TIMEOUT_SECONDS = 10


def email_provider(config: Mapping) -> EmailProvider:
    """The email provider that EMAIL_PROVIDER selects (default: sandbox)."""
    name = _provider_name(config, "EMAIL_PROVIDER", EMAIL_PROVIDERS)
    if name == "sandbox":
        return SandboxEmailProvider()
    if name == DISABLED:
        return DisabledProvider("email", "set SENDGRID_API_KEY, or EMAIL_PROVIDER=sandbox to record sends unsent")
    _require(config, "EMAIL_PROVIDER", name, "SENDGRID_API_KEY")
    from .sendgrid import DEFAULT_HOST, SendGridProvider

    host = str(config.get("SENDGRID_API_HOST") or DEFAULT_HOST).strip().rstrip("/")
    if not host.startswith(("https://", "http://")):
        raise ProviderConfigError(f"SENDGRID_API_HOST must be a base URL such as {DEFAULT_HOST!r}, got {host!r}")
    return SendGridProvider(api_key=str(config["SENDGRID_API_KEY"]).strip(), host=host, timeout=_timeout(config))


def sms_provider(config: Mapping) -> SmsProvider:
    """The SMS provider that SMS_PROVIDER selects (default: sandbox)."""
    name = _provider_name(config, "SMS_PROVIDER", SMS_PROVIDERS)
    if name == "sandbox":
        return SandboxSmsProvider()
    if name == DISABLED:
        return DisabledProvider("SMS", "set VONAGE_API_KEY and VONAGE_API_SECRET, or SMS_PROVIDER=sandbox to record "
                                       "sends unsent")
    _require(config, "SMS_PROVIDER", name, "VONAGE_API_KEY", "VONAGE_API_SECRET")
    from .vonage import DEFAULT_REST_HOST, VonageProvider

    rest_host = str(config.get("VONAGE_REST_HOST") or DEFAULT_REST_HOST).strip().rstrip("/")
    if rest_host.startswith("https://"):
        rest_host = rest_host[len("https://"):]
    if not rest_host or "/" in rest_host:
        raise ProviderConfigError(f"VONAGE_REST_HOST must be a host[:port] such as {DEFAULT_REST_HOST!r} "
                                  f"(the SDK always uses https), got {config.get('VONAGE_REST_HOST')!r}")
    return VonageProvider(api_key=str(config["VONAGE_API_KEY"]).strip(),
                          api_secret=str(config["VONAGE_API_SECRET"]).strip(),
                          rest_host=rest_host, timeout=_timeout(config))


def check_providers(config: Mapping) -> tuple[EmailProvider, SmsProvider]:
    """Build both providers, or raise one ProviderConfigError listing every problem (the worker's start-up check)."""
    built, problems = [], []
    for factory in (email_provider, sms_provider):
        try:
            built.append(factory(config))
        except ProviderConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ProviderConfigError("; ".join(problems))
    return built[0], built[1]


def _provider_name(config: Mapping, key: str, known: tuple[str, ...]) -> str:
    name = str(config.get(key) or "sandbox").strip().lower()
    if name not in known:
        raise ProviderConfigError(f"{key}={name!r} is not a known provider; expected one of: {', '.join(known)}")
    return name


def _require(config: Mapping, key: str, name: str, *settings: str) -> None:
    missing = [s for s in settings if not str(config.get(s) or "").strip()]
    if missing:
        raise ProviderConfigError(f"{key}={name} but {' and '.join(missing)} "
                                  f"{'is' if len(missing) == 1 else 'are'} not set")


def _timeout(config: Mapping) -> float:
    value = config.get("PROVIDER_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):
        raise ProviderConfigError(f"PROVIDER_TIMEOUT_SECONDS must be a positive number of seconds, got {value!r}")
    return seconds
