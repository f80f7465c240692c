"""Replies and keyword confirmations as outbox kinds: transactional (the marketing caps neither hold nor count them,
an open conversation does not pause them), sent once (one outbox row per conversation message).

Both are unlisted automations (:func:`retainful.automations.registry.register`): the policy and the dispatcher treat
them like any kind, no store switches them on or off. An agent's reply keeps consent, opt-out and quiet hours, except
that quiet hours do not hold it while the shopper wrote in the last ``LIVE_WINDOW``. A keyword confirmation answers the
shopper's own keyword at once: no quiet hours, and it goes even to a shopper who just opted out (the one text allowed
after STOP).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from retainful import clock
from retainful.automations import registry
from retainful.automations.base import Automation
from retainful.extensions import db
from retainful.messaging import outbox
from retainful.models import Conversation, ConversationMessage

if TYPE_CHECKING:
    from retainful.models import Message, Store

LIVE_WINDOW = timedelta(minutes=30)
REPLY = "conversation_reply"
CONFIRMATION = "keyword_reply"


class _Reply(Automation):
    transactional = True
    paused_by_conversation = False
    counts_toward_caps = False
    credits_orders = False  # an order after a reply is credited to its conversation (orders/attribution.py)

    def template_key(self, position: int) -> str:
        return "conversation/_reply"  # "_": not a template the editor lists; the text is the agent's

    def _written(self, message: "Message") -> ConversationMessage | None:
        return db.session.scalars(sa.select(ConversationMessage).where(
            ConversationMessage.outbox_message_id == message.id)).first()

    def template_vars(self, message: "Message", store: "Store") -> dict[str, Any]:
        written = self._written(message)
        return {"reply": written.text if written else "", "author": written.author if written else store.persona,
                "signature": store.persona_signature if message.kind == REPLY else None}

    def sample_vars(self, store: "Store") -> dict[str, Any]:
        return {"reply": "Hi! Happy to help with your order.", "author": store.persona,
                "signature": store.persona_signature}


class ConversationReply(_Reply):
    kind = REPLY
    title = "Conversation reply"

    def quiet_hours_apply(self, message: "Message", now: datetime) -> bool:
        last = db.session.scalar(sa.select(Conversation.last_inbound_at).join(
            ConversationMessage, ConversationMessage.conversation_id == Conversation.id).where(
            ConversationMessage.outbox_message_id == message.id))
        return last is None or now - last > LIVE_WINDOW


class KeywordConfirmation(_Reply):
    kind = CONFIRMATION
    title = "Keyword confirmation"

    def channel_rules_apply(self, message: "Message") -> bool:
        return False

    def quiet_hours_apply(self, message: "Message", now: datetime) -> bool:
        return False


registry.register(ConversationReply(), listed=False)
registry.register(KeywordConfirmation(), listed=False)


def enqueue(written: ConversationMessage, confirmation: bool) -> int:
    """The outbox row of an outbound conversation message, due now; its id. The key names the conversation message,
    so the reply is queued once however often this runs."""
    kind = CONFIRMATION if confirmation else REPLY
    conversation = written.conversation
    key = f"{kind}:message:{written.id}:1:{written.channel}"
    outbox.enqueue([outbox.Planned(store_id=written.store_id, kind=kind, channel=written.channel, dedup_key=key,
                                   due_at=clock.now(), customer_id=conversation.customer_id)])
    from retainful.models import Message

    return db.session.scalar(sa.select(Message.id).where(Message.store_id == written.store_id,
                                                         Message.dedup_key == key))
