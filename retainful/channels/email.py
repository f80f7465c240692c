"""Email: the customer's address, unsubscribe/suppression/consent rules, HTML + text with CSS inlined, the open
pixel, a List-Unsubscribe link, sent through the EMAIL_PROVIDER (SendGrid or the sandbox)."""
from __future__ import annotations

from retainful.channels.base import Channel
from retainful.defaults import template_folder
from retainful.messaging.providers.base import OutgoingEmail


class Email(Channel):
    name = address_field = "email"
    provider_setting = "EMAIL_PROVIDER"
    cap_setting = "email_cap_hours"
    template_dir = template_folder("email_templates")
    template_extension = ".html"
    autoescape = True
    tracks_opens = True
    opt_out_fields = ("unsubscribed_at", "email_suppressed_at")

    def normalise_address(self, text, store):
        from retainful.customers.identity import normalise_email  # the identity rules import the models

        return normalise_email(text)

    def refusals(self, customer):
        return (("no_email", not customer.email), ("unsubscribed", customer.unsubscribed_at is not None),
                ("suppressed", customer.email_suppressed_at is not None),
                ("no_email_consent", customer.email_consent is False))  # only a recorded "no" stops email

    def render(self, key, context, source=None):
        from retainful.rendering.engine import render_email  # the engine asks this registry for template dirs

        return render_email(key, context, source)

    def message_parts(self, rendering, unsubscribe_url):
        return rendering.subject, rendering.text, rendering.html, unsubscribe_url

    def preview_json(self, rendering, inert_html):
        return {"channel": self.name, "subject": rendering.subject, "preheader": rendering.preheader,
                "html": inert_html(rendering.html), "text": rendering.text}

    def envelope(self, *, message_id, store, recipient, to_name, rendering, unsubscribe_url, categories,
                 subject_prefix="", reply_to=None):
        return OutgoingEmail(message_id=message_id, to_email=recipient, to_name=to_name, from_email=store.from_email,
                             from_name=store.from_name, subject=f"{subject_prefix}{rendering.subject}",
                             html=rendering.html, text=rendering.text, unsubscribe_url=unsubscribe_url,
                             categories=categories, reply_to=reply_to)

    def send(self, provider, outgoing):
        return provider.send_email(outgoing)


EMAIL = Email()
