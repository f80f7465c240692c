"""Conversations: a shopper's reply opens (or continues) a conversation, a person answers it through the outbox.

The functions other packages call (the helpdesk API, the admin inbox, the inbound webhooks) are re-exported here;
retainful/conversations/README.md describes them. Replies are a transactional kind of message
(:mod:`retainful.conversations.replies`), keywords a registry (:mod:`retainful.conversations.keywords`).
"""
from retainful.conversations.service import (ConversationError, as_json, assign, close, get, list_conversations,
                                             mark_read, on_inbound, open_conversation, pause_until, receive,
                                             reopen, reply, set_reason)

__all__ = ["ConversationError", "as_json", "assign", "close", "get", "list_conversations", "mark_read",
           "on_inbound", "open_conversation", "pause_until", "receive", "reopen", "reply", "set_reason"]

# Inbound listeners register on import: the reason classifier and the helpdesk webhook.
from retainful.conversations import reasons, webhook  # noqa: E402,F401
