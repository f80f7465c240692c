"""Template editing, preview and test-send for a store (the admin's editor calls the same domain functions)."""
from __future__ import annotations

from dataclasses import asdict

from flask import current_app, jsonify

from retainful.api.errors import ApiError, error_response
from retainful.api.request import current_store, json_body
from retainful.api.schemas import (
    TemplateIn,
    TemplatePreviewIn,
    TemplateTestSendIn,
    TemplateVersionOut,
)
from retainful.api.views import bp
from retainful.channels import names
from retainful.messaging.test_send import API, TestSendLimited, test_send
from retainful.rendering import overrides
from retainful.rendering.engine import default_source, is_template_key
from retainful.rendering.preview import preview
from retainful.urls import public_urls

version_out = TemplateVersionOut()


def _checked(channel: str, key: str) -> None:
    if channel not in names() or not is_template_key(channel, key):
        raise ApiError(404, "not_found", f"No {channel} template {key!r}.")


@bp.get("/templates")
def list_templates():
    return jsonify(templates=[{"channel": state.channel, "key": state.key, "version": state.version,
                                "is_default": state.is_default, "addable_locales": state.addable_locales}
                               for state in overrides.template_states(current_store().id)])


@bp.get("/templates/<channel>/<path:key>")
def get_template(channel: str, key: str):
    _checked(channel, key)
    current = overrides.latest(current_store().id, channel, key)
    default = default_source(channel, key)
    return jsonify(channel=channel, key=key, version=current.version if current else 0,
                   is_default=current is None or current.source is None,
                   source=current.source if current and current.source is not None else default,
                   default_source=default)


@bp.put("/templates/<channel>/<path:key>")
def save_template(channel: str, key: str):
    _checked(channel, key)
    data = json_body(TemplateIn())
    version = overrides.save_override(current_store(), public_urls(current_app), channel, key, data["source"],
                                      author="api")
    return jsonify(version_out.dump(version))


@bp.post("/templates/<channel>/<path:key>/reset")
def reset_template(channel: str, key: str):
    _checked(channel, key)
    return jsonify(version_out.dump(overrides.reset_to_default(current_store(), channel, key, author="api")))


@bp.get("/templates/<channel>/<path:key>/versions")
def template_versions(channel: str, key: str):
    _checked(channel, key)
    return jsonify(versions=version_out.dump(overrides.history(current_store().id, channel, key), many=True))


@bp.post("/templates/preview")
def preview_template():
    data = json_body(TemplatePreviewIn())
    rendered = preview(current_store(), public_urls(current_app), data["channel"], data["template"], data.get("source"),
                       data.get("cart_token"))
    return jsonify(asdict(rendered))  # email: subject, html, text, preheader; SMS: text, encoding, segments, ...


@bp.post("/templates/test-send")
def test_send_template():
    data = json_body(TemplateTestSendIn())
    try:
        message = test_send(current_store(), public_urls(current_app), data["channel"], data["template"], data["to"],
                            data.get("source"), data.get("cart_token"), requested_by=API)
    except TestSendLimited as limited:
        response, status = error_response(429, "rate_limited", limited.message)
        response.headers["Retry-After"] = str(limited.retry_after)
        return response, status
    body = {"message_id": message.id, "status": message.status, "provider": message.provider,
            "provider_message_id": message.provider_message_id, "to": message.recipient, "error": message.error}
    return jsonify(body), 200 if message.status == "sent" else 502
