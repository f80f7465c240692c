"""A channel switched off: in production a channel without credentials is this, never silently the sandbox.

The dispatcher skips its messages (reason ``channel_disabled``) before rendering them; a test-send through it fails
with the reason, so a marketer sees why nothing arrived.
"""
from __future__ import annotations

from .base import OutgoingEmail, OutgoingSms, ProviderError, SendResult

NAME = "disabled"


class DisabledProvider:
    name = NAME

    def __init__(self, channel: str, remedy: str):
        self.remedy = remedy  # what turns the channel on, shown in the admin
        self.reason = f"{channel} is disabled: {remedy}"

    def send_email(self, email: OutgoingEmail) -> SendResult:
        raise ProviderError(self.reason, transient=False)

    def send_sms(self, sms: OutgoingSms) -> SendResult:
        raise ProviderError(self.reason, transient=False)
