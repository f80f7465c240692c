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
from flask_babel import Babel
from flask_login import current_user

from retainful import users

TRANSLATIONS = Path(__file__).parent / "translations"
DEFAULT = "en"

babel = Babel()


def select_locale() -> str:
    if not has_request_context():
        return DEFAULT
    chosen = current_user.user.locale if current_user and current_user.is_authenticated else None
    if chosen in users.LANGUAGES:
        return chosen
    # Babel's negotiation, not werkzeug's best_match: "en-GB,ko;q=0.5" is English (its primary tag counts first).
    wanted = [language for language, _quality in request.accept_languages]
    return negotiate_locale(wanted, list(users.LANGUAGES), sep="-") or DEFAULT


def init_app(app: Flask) -> None:
    babel.init_app(app, default_locale=DEFAULT, default_translation_directories=str(TRANSLATIONS),
                   locale_selector=select_locale)
    app.jinja_env.globals["rt_languages"] = users.LANGUAGES
