"""The template editor: every email and SMS template with a live preview beside it (a sample cart or one of the
store's real carts), the SMS character and segment count, save as a new version, reset to the file default, the
version history, and a test-send to an address or phone the user types. Owners, marketers and admins all use it.

The preview pane is refreshed by ``static/editor.js``: the source is POSTed (with the CSRF token in the X-CSRFToken
header) to the preview endpoint, which answers JSON (a template error with its ``line``, which the code editor
marks). Emails have two modes: the visual editor (``static/blocks.js``: a list of blocks, turned into source by the
blocks-to-source endpoint, :mod:`retainful.rendering.blocks`) and the code editor (CodeMirror over the textarea).
Without JavaScript the page still works: the textarea, the preview of the saved template, and test-send and save
are ordinary forms.
"""
from __future__ import annotations

import json
from typing import Any

from flask import abort, current_app, flash, jsonify, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _
from flask_login import current_user

from retainful_admin.forms import field_message
from retainful_admin.framing import inert_email_html
from retainful_admin.i18n import word
from retainful_admin.security import SecuredMixin, current_store
from retainful import users
from retainful.channels import channel as channel_named, names
from retainful.errors import FieldError
from retainful.extensions import db
from retainful.messaging.dispatch import providers_for
from retainful.messaging.providers import ProviderConfigError
from retainful.messaging.test_send import TestSendLimited, test_send, user_requester
from retainful.rendering import blocks, overrides, variables
from retainful.rendering.context import recent_carts
from retainful.rendering.engine import added_variant_base, default_source, is_template_key, key_locale, variant_key
from retainful.rendering.preview import preview
from retainful.urls import public_urls

PREVIEW_CARTS = 25


def _checked(channel: str, key: str) -> None:
    if channel not in names() or not is_template_key(channel, key):
        abort(404)


def rendering_json(channel: str, rendered) -> dict[str, Any]:
    return channel_named(channel).preview_json(rendered, inert_email_html)


def _error_json(error: FieldError, status: int = 400):
    return jsonify(error={"code": error.code, "field": error.field, "message": word(error.message),
                          "line": getattr(error, "line", None)}), status


def _wants_json() -> bool:
    return request.headers.get("X-Requested-With") == "fetch" or request.accept_mimetypes.best == "application/json"


def provider_name(channel: str) -> str:
    """Where a test-send goes: "sandbox" (nothing leaves the machine) or the live provider's name."""
    try:
        providers = providers_for(current_app._get_current_object())
    except ProviderConfigError as error:
        return f"not configured ({error})"
    return channel_named(channel).provider(providers).name


def _cart_token() -> str | None:
    return (request.form.get("cart_token") or request.args.get("cart_token") or "").strip() or None



def _block_types() -> list[dict[str, Any]]:
    """The visual editor's block types, their labels and their fields' in the reader's language."""
    return [{**kind, "label": word(kind["label"]),
             "fields": [{**field, "label": word(field["label"])} for field in kind["fields"]]}
            for kind in blocks.schema()]


def _merge_variables() -> list[dict[str, Any]]:
    """The merge variables the editors offer, their labels in the reader's language."""
    return [{**variable, "label": word(variable["label"])} for variable in variables.as_json()]

class TemplatesView(SecuredMixin, BaseView):
    capability = users.TEMPLATES

    @expose("/")
    def index(self):
        return self.render("retainful_admin/templates.html", rows=overrides.template_states(current_store().id))

    def _editor(self, channel: str, key: str, *, source: str | None = None, error: FieldError | None = None,
                sent=None, send_error: str | None = None, errors: dict[str, str] | None = None, status: int = 200):
        """``errors``: the refused test-send or language form's, by field (shown at it, with what was typed)."""
        store = current_store()
        current = overrides.latest(store.id, channel, key)
        saved = current.source if current is not None and current.source is not None else default_source(channel, key)
        text = saved if source is None else source
        cart_token, urls = _cart_token(), public_urls(current_app)
        try:
            rendered = rendering_json(channel, preview(store, urls, channel, key, source=text, cart_token=cart_token))
            preview_error = None
        except FieldError as failure:
            rendered, preview_error = None, failure
        carts = recent_carts(store.id, PREVIEW_CARTS)
        document = blocks.from_source(text, urls) if channel == "email" else None
        return self.render(
            "retainful_admin/template_editor.html", channel=channel, key=key, source=text,
            unsaved=text != saved, current=current, is_default=current is None or current.source is None,
            history=overrides.history(store.id, channel, key), carts=carts, cart_token=cart_token,
            rendered=rendered, preview_error=preview_error, error=error, sent=sent, send_error=send_error,
            provider=provider_name(channel), document=document, starter=blocks.starter(key),
            block_types=_block_types(), merge_variables=_merge_variables(),
            sample_image=urls.sample_image("mug.png"),
            error_line=getattr(error, "line", None), errors=errors or {}, form=request.form,
            added_to=added_variant_base(channel, key), language=users.LANGUAGES.get(key_locale(key) or ""),
            addable=[(code, f"{users.LANGUAGES[code]} ({code})")
                     for code in overrides.addable_locales(store.id, channel, key)],
        ), status

    @expose("/edit/<channel>/<path:key>")
    def edit(self, channel: str, key: str):
        _checked(channel, key)
        return self._editor(channel, key)

    @expose("/preview/<channel>/<path:key>", methods=("POST",))
    def live_preview(self, channel: str, key: str):
        _checked(channel, key)
        source = request.form.get("source")
        try:
            rendered = preview(current_store(), public_urls(current_app), channel, key, source=source,
                               cart_token=_cart_token())
        except FieldError as error:
            return _error_json(error)
        return jsonify(rendering_json(channel, rendered))

    @expose("/blocks-to-source/<channel>/<path:key>", methods=("POST",))
    def blocks_to_source(self, channel: str, key: str):
        """The visual editor's blocks (``document``: JSON of subject, preheader and blocks) as template source."""
        _checked(channel, key)
        if channel != "email":
            abort(404)
        try:
            document = json.loads(request.form.get("document") or "")
        except (ValueError, RecursionError):
            return _error_json(FieldError("document", _("Must be JSON: {subject, preheader, blocks}.")))
        try:
            return jsonify(source=blocks.to_source(document, public_urls(current_app)))
        except FieldError as error:
            return _error_json(error)

    @expose("/source-to-blocks/<channel>/<path:key>", methods=("POST",))
    def source_to_blocks(self, channel: str, key: str):
        """The blocks that ``source`` was made of, or ``document: null`` when it is code the blocks cannot say."""
        _checked(channel, key)
        if channel != "email":
            abort(404)
        return jsonify(document=blocks.from_source(request.form.get("source") or "", public_urls(current_app)))

    @expose("/save/<channel>/<path:key>", methods=("POST",))
    def save(self, channel: str, key: str):
        _checked(channel, key)
        source = request.form.get("source")
        if source is None or not source.strip():
            return self._editor(channel, key, source=source or "", status=400,
                                error=FieldError("source", _("The template is empty: use “Reset to the default” "
                                                             "to go back to the default.")))
        try:
            version = overrides.save_override(current_store(), public_urls(current_app), channel, key, source,
                                              author=current_user.email)
        except FieldError as error:
            db.session.rollback()
            return self._editor(channel, key, source=source, error=error, status=400)
        flash(_("Saved as version %(version)s.", version=version.version), "success")
        return redirect(url_for(".edit", channel=channel, key=key))

    @expose("/reset/<channel>/<path:key>", methods=("POST",))
    def reset(self, channel: str, key: str):
        """A language version the store added is deleted by its reset: its shoppers get the default again."""
        _checked(channel, key)
        version = overrides.reset_to_default(current_store(), channel, key, author=current_user.email)
        base = added_variant_base(channel, key)
        if base is not None:
            flash(_("The %(language)s version is deleted: its shoppers get the default template.",
                    language=users.LANGUAGES[key_locale(key)]), "success")
            return redirect(url_for(".edit", channel=channel, key=base))
        flash(_("Back to the default template (version %(version)s).", version=version.version), "success")
        return redirect(url_for(".edit", channel=channel, key=key))

    @expose("/language/<channel>/<path:key>", methods=("POST",))
    def add_language(self, channel: str, key: str):
        """"Add a language version": the editor of ``key.<locale>``, prefilled with the default, saved as an
        override of that key (the dispatcher sends it to the shoppers of that language)."""
        _checked(channel, key)
        try:
            variant = variant_key(channel, key, request.form.get("locale"))
        except FieldError as error:
            reason = (_("Choose one of the languages listed.") if error.field == "locale"
                      else _("A language version is added to a default template, not to another version."))
            return self._editor(channel, key, errors={"locale": reason}, status=400)
        return redirect(url_for(".edit", channel=channel, key=variant))

    @expose("/test-send/<channel>/<path:key>", methods=("POST",))
    def send_test(self, channel: str, key: str):
        _checked(channel, key)
        to = (request.form.get("to") or "").strip()
        source = request.form.get("source") or None
        try:
            if not to:
                raise FieldError("to", _("Type the address or phone number to send the test to."))
            message = test_send(current_store(), public_urls(current_app), channel, key, to, source=source,
                                cart_token=_cart_token(), requested_by=user_requester(current_user.id))
        except TestSendLimited as limited:
            db.session.rollback()
            if _wants_json():
                response = jsonify(error={"code": "rate_limited", "field": "to", "message": limited.message})
            else:
                response = self._editor(channel, key, source=source, send_error=limited.message)[0]
            response = current_app.make_response(response)
            response.headers["Retry-After"] = str(limited.retry_after)
            return response, 429
        except FieldError as error:
            db.session.rollback()
            if _wants_json():
                return _error_json(error)
            if error.field == "to":
                return self._editor(channel, key, source=source, errors={"to": field_message(error)}, status=400)
            return self._editor(channel, key, source=source, send_error=error.message, status=400)
        except ProviderConfigError as error:
            db.session.rollback()
            if _wants_json():
                return jsonify(error={"field": "provider", "message": str(error)}), 502
            return self._editor(channel, key, source=source, send_error=str(error), status=502)
        status = 200 if message.status == "sent" else 502
        if _wants_json():
            return jsonify(message_id=message.id, status=message.status, provider=message.provider,
                           to=message.recipient, error=message.error,
                           message_url=url_for("messages.detail", message_id=message.id)), status
        return self._editor(channel, key, source=source, sent=message, status=status)
