"""SMS: the customer's E.164 phone, opt-out and explicit-consent rules, quiet hours in the recipient's local time,
one clean line of text with its GSM-7/UCS-2 segment count, the US one-text-per-cart rule, sent through the
SMS_PROVIDER (Vonage or the sandbox)."""
from __future__ import annotations

from zoneinfo import ZoneInfo

import phonenumbers

from retainful.channels.base import Channel
from retainful.defaults import template_folder
from retainful.local_time import phone_zone
from retainful.messaging.providers.base import OutgoingSms


def recipient_timezone(number: phonenumbers.PhoneNumber, store) -> ZoneInfo:
    """The phone number's zone when it has exactly one (most countries), else the store's."""
    return ZoneInfo(phone_zone(number) or store.timezone)


class Sms(Channel):
    name, address_field = "sms", "phone"
    one_text_per_us_cart = True
    provider_setting = "SMS_PROVIDER"
    cap_setting = "sms_cap_hours"
    template_dir = template_folder("sms_templates")
    template_extension = ".txt"
    autoescape = False
    opt_out_fields = ("sms_opted_out_at",)

    def normalise_address(self, text, store):
        from retainful.customers.identity import normalise_phone  # the identity rules import the models

        return normalise_phone(text, store.country)

    def refusals(self, customer):
        return (("no_phone", not customer.phone), ("sms_opted_out", customer.sms_opted_out_at is not None),
                ("no_sms_consent", customer.sms_consent is not True))  # texts need explicit consent

    def quiet_zone(self, customer, store):
        return recipient_timezone(phonenumbers.parse(customer.phone), store)

    def render(self, key, context, source=None):
        from retainful.rendering.engine import render_sms  # the engine asks this registry for template dirs

        return render_sms(key, context, source)

    def message_parts(self, rendering, unsubscribe_url):
        return None, rendering.text, None, None

    def preview_json(self, rendering, inert_html):
        return {"channel": self.name, "text": rendering.text, "encoding": rendering.encoding,
                "segments": rendering.segments, "characters": rendering.characters,
                "warnings": list(rendering.warnings)}

    def envelope(self, *, message_id, store, recipient, to_name, rendering, unsubscribe_url, categories,
                 subject_prefix="", reply_to=None):
        return OutgoingSms(message_id=message_id, to=recipient, sender=store.sms_from, text=rendering.text)

    def send(self, provider, outgoing):
        return provider.send_sms(outgoing)


SMS = Sms()
