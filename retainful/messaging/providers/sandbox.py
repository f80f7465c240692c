"""Providers for development and tests: nothing leaves the machine and nothing is kept."""
from __future__ import annotations

import uuid

from .base import OutgoingEmail, OutgoingSms, SendResult


def _sandbox_id() -> str:
    return f"sandbox-{uuid.uuid4().hex}"


class SandboxEmailProvider:
    name = "sandbox"

    def send_email(self, email: OutgoingEmail) -> SendResult:
        return SendResult(provider_message_id=_sandbox_id())


class SandboxSmsProvider:
    name = "sandbox"

    def send_sms(self, sms: OutgoingSms) -> SendResult:
        return SendResult(provider_message_id=_sandbox_id())
