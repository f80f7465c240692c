"""The admin's error pages: 403, 404, 405, 500 and a refused CSRF token, inside the admin's frame with a way back
(``retainful/api/errors.py`` answers the API's errors as JSON, and asks this module for pages under /admin).

The 500 page must not fail in turn: it rolls the session back, draws a frame that reads nothing from the database,
and falls back to a plain page if even that cannot render."""
from __future__ import annotations

import logging

from flask import Flask, current_app, request
from flask_babel import lazy_gettext as _l
from markupsafe import escape

from retainful.extensions import db

log = logging.getLogger(__name__)

PAGES = {  # status: (title, explanation)
    400: (_l("This request could not be accepted"),
          _l("Something in it was not what the page expected. Nothing was changed.")),
    403: (_l("You do not have access to this page"),
          _l("Your role does not include it. Ask an owner or admin of the store if you need it.")),
    404: (_l("This page does not exist"),
          _l("The address may be mistyped, or the record was deleted or belongs to another store.")),
    405: (_l("This address is for a form"), _l("It cannot be opened directly: go back to the page with the form.")),
    409: (_l("This form belongs to another store"),
          _l("The store was switched (perhaps in another tab) after the form was opened. Nothing was changed: "
             "reload the page and try again.")),
    500: (_l("Something went wrong on our side"),
          _l("The error has been logged. Nothing was changed; try again in a moment.")),
}
CSRF_EXPLANATION = _l("%(reason)s (CSRF protection). Nothing was changed. If you left the page open for a while, or "
                      "logged out and in again in another tab, reload the page and try again.")
PLAIN = ('<!DOCTYPE html><html><head><meta charset="UTF-8"><title>{title}</title></head><body>'
         '<h1>{title}</h1><p>{explanation}</p><p><a href="/admin/">Dashboard</a></p></body></html>')


def _back() -> str | None:
    """The page the user came from, when it is one of ours."""
    referrer = request.referrer or ""
    return referrer if referrer.startswith(request.host_url + "admin") and referrer != request.url else None


def render(status: int, explanation: str | None = None, template: str = "retainful_admin/error.html"):
    """The error page for ``status``, as a response tuple (``template``: one that extends error.html)."""
    title, default = PAGES.get(status, PAGES[500] if status >= 500 else PAGES[400])
    explanation = explanation or default
    bare = status >= 500
    try:
        if bare:
            db.session.rollback()
        index = current_app.extensions["admin"][0].index_view
        page = index.render(template, status=status, title=title, explanation=explanation,
                            back=_back(), bare=bare)
    except Exception:  # noqa: BLE001 (an error page that fails would hide the first error)
        log.exception("the admin's %s page could not render", status)
        page = PLAIN.format(title=escape(str(title)), explanation=escape(str(explanation)))
    return page, status, {"Cache-Control": "no-store"}


def csrf_refused(reason: str):
    return render(400, CSRF_EXPLANATION % {"reason": reason.rstrip(".")})


def register(app: Flask) -> None:
    app.extensions["retainful_admin_error_page"] = render
