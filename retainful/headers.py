"""Security headers on every response: the admin, the API, the shopper-facing pages and the health check.

Nothing may frame our pages (clickjacking), browsers must not sniff a type other than the one we send, and a link
followed out of our pages tells the other site at most our origin. The admin gets a Content-Security-Policy it
actually satisfies: scripts and styles from its own static files only, except that styles may be inline because the
email previews are ``srcdoc`` iframes (sandboxed, no scripts), which inherit the page's policy, and emails are styled
inline by design; their product images come from the shops. Everything else (JSON, the small public pages with their
inline ``<style>``, the pixel, redirects) loads nothing but its own images. Admin pages show personal data, so no
cache keeps them. HSTS only in production behind an https ``PUBLIC_BASE_URL``: sent over plain HTTP it would lock
browsers out of a development server.
"""
from __future__ import annotations

from flask import Flask, Response, request

ADMIN_PREFIX = "/admin"
ADMIN_ASSETS = ("/admin/static/", "/admin/assets/")  # flask-admin's and our static files: cacheable, no policy needed
ADMIN_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                "img-src 'self' data: https: http:; font-src 'self' data:; connect-src 'self'; frame-src 'self'; "
                "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
OTHER_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
                "base-uri 'none'; frame-ancestors 'none'")
HSTS = "max-age=31536000"  # a year; no includeSubDomains: other hosts of the operator's domain are not ours to pin
ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",  # a view may ask for less (the recovery links: no-referrer)
}


def register(app: Flask) -> None:
    hsts = (app.config.get("RETAINFUL_ENV") == "production"
            and app.config.get("PUBLIC_BASE_URL", "").startswith("https://"))

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in ALWAYS.items():
            response.headers.setdefault(name, value)
        path = request.path
        admin_page = (path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")) and not path.startswith(ADMIN_ASSETS)
        response.headers.setdefault("Content-Security-Policy", ADMIN_POLICY if admin_page else OTHER_POLICY)
        if admin_page:
            response.headers.setdefault("Cache-Control", "no-store")
        if hsts:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response
