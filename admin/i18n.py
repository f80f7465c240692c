"""The admin's language: Flask-Babel with the catalogs in ``retainful_admin/translations`` (English is the source).

The language of a request is the logged-in user's choice (``User.locale``), else the best match of the browser's
Accept-Language among ``users.LANGUAGES``, else English. Flask-Admin's own words (list, create, pagination) follow it
through Flask-Admin's catalogs. Templates get ``_``/``gettext``/``ngettext`` (new-style: ``_("%(n)s carts", n=3)``);
Python code uses ``from flask_babel import gettext as _`` (``lazy_gettext`` for module-level strings).
"""
from __future__ import annotations

from pathlib import Path

from babel import negotiate_locale
from flask import Flask, has_request_context, request
from flask_babel import Babel, gettext, lazy_gettext as _l, ngettext
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from retainful import users
from retainful.extensions import db
from retainful.plurals import counted
from retainful.words import N_, Said

TRANSLATIONS = Path(__file__).parent / "translations"
DEFAULT = "en"

babel = Babel()

# The words the admin shows for stored values (statuses, channels, kinds, states), humanised and translated; a value
# not listed shows as itself with spaces for underscores.
LABELS = {
    "live": _l("live"), "guest": _l("guest"), "abandoned": _l("abandoned"), "recovered": _l("recovered"),
    "converted": _l("converted"), "lost": _l("lost"), "deleted": _l("deleted"),
    "scheduled": _l("scheduled"), "sending": _l("sending"), "sent": _l("sent"), "failed": _l("failed"),
    "cancelled": _l("cancelled"), "skipped": _l("skipped"),
    "synced": _l("synced"), "pending": _l("pending"), "not_connected": _l("not connected"),
    "email": _l("email"), "sms": _l("SMS"),
    "email_consent": _l("email consent"), "sms_consent": _l("SMS consent"), "unsubscribed": _l("unsubscribed"),
    "sms_opted_out": _l("SMS opted out"), "suppressed": _l("suppressed"),
    "active": _l("active"), "redeemed": _l("redeemed"), "expired": _l("expired"),
    "recovery": _l("recovery"), "abandoned_cart": _l("abandoned cart"), "next_order": _l("next order"),
    "win_back": _l("win back"), "welcome": _l("welcome"), "post_purchase": _l("post purchase"),
    "order_update": _l("order update"), "birthday": _l("birthday"), "test": _l("test"),
    "open": _l("open"), "closed": _l("closed"),
    "minutes": _l("minutes"), "hours": _l("hours"), "days": _l("days"),
    "percent": _l("percent"), "fixed": _l("fixed"), "free_shipping": _l("free shipping"),
    "created": _l("created"), "planned": _l("planned"), "delivered": _l("delivered"), "opened": _l("opened"),
    "clicked": _l("clicked"), "bounced": _l("bounced"), "ordered": _l("ordered"),
    "admin": _l("admin"), "owner": _l("owner"), "marketer": _l("marketer"), "agent": _l("agent"),
    "draft": _l("draft"), "running": _l("running"), "decided": _l("decided"), "stopped": _l("stopped"),
    "orders": _l("orders"),
}


def label(value: object) -> str:
    """``{{ rt_label(cart.status) }}``: "abandoned" in English, "이탈" in Korean."""
    text = LABELS.get(value) if isinstance(value, str) else None
    return str(text) if text is not None else str(value).replace("_", " ")


def select_locale() -> str:
    if not has_request_context():
        return DEFAULT
    try:
        chosen = current_user.user.locale if current_user and current_user.is_authenticated else None
    except SQLAlchemyError:  # the database is down (the 500 page, which reads nothing more): the browser decides
        db.session.rollback()
        chosen = None
    if chosen in users.LANGUAGES:
        return chosen
    # Babel's negotiation, not werkzeug's best_match: "en-GB,ko;q=0.5" is English (its primary tag counts first).
    wanted = [language for language, _quality in request.accept_languages]
    return negotiate_locale(wanted, list(users.LANGUAGES), sep="-") or DEFAULT


# The words admin.js, inbox.js and editor.js write into pages, keyed by their English (admin.js's rtWord).
SCRIPT_WORDS = (N_("Copied"), N_("just now"), N_("%(num)s min ago"), N_("%(num)s h ago"), N_("%(num)s d ago"),
                N_("Shopper"), N_("rendering…"), N_("error"), N_("up to date"), N_("not saved"), N_("Sending…"),
                N_("The preview failed (HTTP %(status)s)."), N_("The preview could not be reached."),
                N_("Sent to %(to)s via %(provider)s."), N_("Not sent: %(error)s"), N_("message #%(id)s"),
                N_("The test-send could not be reached."))


def word(marked: str) -> str:
    """``{{ rt_word(setting.label) }}``: words the domain marked (N_, Nn_) in the reader's language. A plain mark is
    taken as it is (no %-formatting, unlike the templates' ``_``: "Share of abandoned carts never messaged (%)" stays
    whole); a :class:`Said` with values is translated, then filled with its values (each said in the same language)."""
    if not isinstance(marked, Said):
        return gettext(marked) if marked else marked
    values = {name: word(value) if isinstance(value, Said) else value for name, value in marked.values.items()}
    if marked.plural is not None:  # ngettext fills "num" itself
        return ngettext(marked.pattern, marked.plural, values.pop("num"), **values)
    return gettext(marked.pattern, **values)


def script_words() -> dict[str, str]:
    """For ``<meta name="rt-words">``: the scripts' words in the reader's language."""
    return {english: gettext(english) for english in SCRIPT_WORDS}


def delay_words(value: int, unit: str) -> str:
    """A step's delay in the reader's language: "1 hour", "3 days" (unit: minutes, hours or days)."""
    return word(counted(value, unit))


def init_app(app: Flask) -> None:
    babel.init_app(app, default_locale=DEFAULT, default_translation_directories=str(TRANSLATIONS),
                   locale_selector=select_locale)
    app.jinja_env.globals.update(rt_languages=users.LANGUAGES, rt_label=label, rt_delay=delay_words, rt_word=word,
                                 rt_script_words=script_words)
    app.add_template_filter(label, "rt_label")  # {{ step.channels|map("rt_label")|join(" + ") }}
