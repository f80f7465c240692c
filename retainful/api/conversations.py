"""The helpdesk API over conversations: list, read with messages, reply (queued: 202), close, confirm the reason.
A thin adapter over retainful.conversations; another store's conversation id answers 404 like an unknown one."""
from __future__ import annotations

from flask import jsonify, request

from retainful import conversations
from retainful.api.request import MAX_ID, current_store, json_body, row_or_404, whole_arg
from retainful.api.schemas import ConversationReasonIn, ConversationReplyIn
from retainful.api.views import bp
from retainful.conversations.service import message_json
from retainful.errors import FieldError
from retainful.models.conversation import ConversationStatus

reply_in, reason_in = ConversationReplyIn(), ConversationReasonIn()
MAX_PAGE = 200


def _domain(call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except conversations.ConversationError as error:
        raise FieldError(error.field, str(error).partition(": ")[2]) from None


def _conversation_or_404(conversation_id: str):
    return row_or_404("conversation", lambda store, row_id: conversations.get(store.id, row_id), conversation_id)


@bp.get("/conversations")
def list_conversations():
    status = request.args.get("status")
    if status is not None and status not in ConversationStatus.ALL:
        raise FieldError("status", f"One of {', '.join(ConversationStatus.ALL)}.")
    found = conversations.list_conversations(current_store().id, status, limit=whole_arg("limit", 50, MAX_PAGE),
                                             before_id=whole_arg("before_id", None, MAX_ID))
    return jsonify({"conversations": [conversations.as_json(c) for c in found]})


@bp.get("/conversations/<conversation_id>")
def get_conversation(conversation_id: str):
    return jsonify(conversations.as_json(_conversation_or_404(conversation_id), messages=True))


@bp.post("/conversations/<conversation_id>/replies")
def post_reply(conversation_id: str):
    conversation = _conversation_or_404(conversation_id)
    data = json_body(reply_in)
    message = _domain(conversations.reply, conversation, data["text"], data.get("agent_name") or None)
    return jsonify(message_json(message)), 202


@bp.post("/conversations/<conversation_id>/close")
def close_conversation(conversation_id: str):
    return jsonify(conversations.as_json(conversations.close(_conversation_or_404(conversation_id))))


@bp.put("/conversations/<conversation_id>/reason")
def put_reason(conversation_id: str):
    conversation = _conversation_or_404(conversation_id)
    data = json_body(reason_in)
    return jsonify(conversations.as_json(_domain(conversations.set_reason, conversation, data["reason"])))
