"""Plain built-in texts for the abandoned-cart steps (the templates issue replaces these with marketer templates)."""
from __future__ import annotations

from dataclasses import dataclass
from html import escape

from retainful.models import Cart, Customer, Message, Store
from retainful.money import format_amount
from retainful.rendering.links import recovery_url, unsubscribe_url

SUBJECTS = {
    1: "You left something in your cart at {store}",
    2: "Any questions about your cart at {store}?",
    3: "Your cart at {store} is waiting",
    4: "Still thinking it over?",
    5: "Last call: your cart at {store}",
}


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    text: str
    html: str | None
    unsubscribe_url: str | None


def render_message(message: Message, store: Store, cart: Cart, customer: Customer) -> Rendered:
    link = recovery_url(cart, store, message)
    name = customer.first_name or "there"
    total = f"{format_amount(cart.total, cart.currency)} {cart.currency}"
    if message.channel == "sms":
        return Rendered(None, f"{store.name}: Hi {name}, your cart ({total}) is saved: {link} Reply STOP to opt out",
                        None, None)
    step = message.step.position if message.step else 1
    subject = SUBJECTS.get(step, SUBJECTS[1]).format(store=store.name)
    lines = [f"{item.quantity} x {item.name}" for item in cart.items]
    unsubscribe = unsubscribe_url(customer)
    address = store.postal_address or store.domain
    text = "\n".join([f"Hi {name},", "", "You left these in your cart:", *lines, f"Total: {total}", "",
                      f"Complete your order: {link}", "", f"{store.name}, {address}",
                      f"Unsubscribe: {unsubscribe}"])
    items_html = "".join(f"<li>{item.quantity} &times; {escape(item.name)}</li>" for item in cart.items)
    html = (f"<p>Hi {escape(name)},</p><p>You left these in your cart:</p><ul>{items_html}</ul>"
            f"<p>Total: {escape(total)}</p><p><a href=\"{escape(link)}\">Complete your order</a></p>"
            f"<p style=\"font-size:12px\">{escape(store.name)}, {escape(address)} &middot; "
            f"<a href=\"{escape(unsubscribe)}\">Unsubscribe</a></p>")
    return Rendered(subject, text, html, unsubscribe)
