"""The conversations inbox (agents, owners, admins): open conversations with unread counts, a thread beside the
shopper's cart, orders and consent, a reply box with the store's canned replies, assign to me, close, reopen, and a
small JSON feed that admin/static/inbox.js polls so new messages appear without a reload.

Replies go through :func:`retainful.conversations.reply` (the outbox) exactly once: each rendered reply box carries a
one-time token claimed (:mod:`retainful.once`) in the reply's own transaction, so a double-click or a
resubmitted form sends once. Canned replies are managed here too (owners and admins)."""
from __future__ import annotations

import secrets

import sqlalchemy as sa
from flask import abort, flash, jsonify, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _
from flask_login import current_user

from retainful_admin import formatting, forms
from retainful_admin.forms import field_message
from retainful_admin.security import SecuredMixin, current_store, get_scoped_or_404, requires
from retainful import clock, conversations, once, users
from retainful.conversations import merge
from retainful.errors import FieldError
from retainful.extensions import db
from retainful.models import (REASONS, CannedReply, Cart, Conversation, ConversationStatus, Coupon, CouponKind,
                              Customer, Order)

POLL_SECONDS = 5  # how often inbox.js asks for new messages
MAX_TITLE = 100


def _conversation(conversation_id: int) -> Conversation:
    conversation = conversations.get(current_store().id, conversation_id)
    if conversation is None:
        abort(404)
    return conversation


def _age(conversation: Conversation) -> int | None:
    """Seconds since the shopper's last message (what the inbox sorts and colours by)."""
    if conversation.last_inbound_at is None:
        return None
    return int((clock.now() - conversation.last_inbound_at).total_seconds())


def _row(conversation: Conversation) -> dict:
    customer = conversation.customer
    name = " ".join(filter(None, (customer.first_name, customer.last_name))) or _("Customer #%(id)s", id=customer.id)
    return {"id": conversation.id, "name": name, "status": conversation.status, "channel": conversation.channel,
            "unread": conversation.unread_count, "age_seconds": _age(conversation),
            "assigned_user_id": conversation.assigned_user_id, "opt_out_flagged": conversation.opt_out_flagged,
            "url": url_for("inbox.thread", conversation_id=conversation.id)}


def _canned(store_id: int) -> list[CannedReply]:
    return list(db.session.scalars(sa.select(CannedReply).where(CannedReply.store_id == store_id)
                                   .order_by(CannedReply.title, CannedReply.id)))


class InboxView(SecuredMixin, BaseView):
    capability = users.CONVERSE

    @expose("/")
    def index(self):
        status = request.args.get("status", ConversationStatus.OPEN)
        if status not in ConversationStatus.ALL:
            status = ConversationStatus.OPEN
        rows = [_row(c) for c in conversations.list_conversations(current_store().id, status, limit=200)]
        return self.render("retainful_admin/inbox.html", rows=rows, status=status, poll_seconds=POLL_SECONDS)

    @expose("/list.json")
    def list_json(self):
        status = request.args.get("status", ConversationStatus.OPEN)
        if status not in ConversationStatus.ALL:
            return jsonify(error={"field": "status", "message": f"one of {', '.join(ConversationStatus.ALL)}"}), 400
        rows = [_row(c) for c in conversations.list_conversations(current_store().id, status, limit=200)]
        return jsonify(conversations=rows), 200, {"Cache-Control": "no-store"}

    def _thread(self, conversation: Conversation, *, text: str = "", error: str | None = None,
                errors: dict[str, str] | None = None, status: int = 200):
        """``error``: why an action was refused (above the page); ``errors``: the reply's, at its field."""
        customer = db.session.get(Customer, conversation.customer_id)
        cart = db.session.get(Cart, conversation.cart_id) if conversation.cart_id else None
        coupon = db.session.scalar(sa.select(Coupon).where(Coupon.cart_id == cart.id,
                                                          Coupon.kind == CouponKind.RECOVERY)) if cart else None
        orders = list(db.session.scalars(sa.select(Order).where(Order.customer_id == customer.id)
                                         .order_by(Order.id.desc()).limit(10)))
        if status == 200 and conversation.unread_count:
            conversations.mark_read(conversation)
        body = conversations.as_json(conversation, messages=True)
        return self.render(
            "retainful_admin/inbox_thread.html", conversation=conversation, body=body, customer=customer, cart=cart,
            coupon=coupon, orders=orders, canned=_canned(conversation.store_id), reasons=REASONS,
            reply_token=secrets.token_urlsafe(24), text=text, error=error, errors=errors or {},
            poll_seconds=POLL_SECONDS,
            last_message_id=body["messages"][-1]["id"] if body["messages"] else 0,
        ), status, {"Cache-Control": "no-store"}

    @expose("/<int:conversation_id>")
    def thread(self, conversation_id: int):
        return self._thread(_conversation(conversation_id))

    @expose("/<int:conversation_id>/messages.json")
    def messages_json(self, conversation_id: int):
        """The thread's messages after ``after`` (a message id), for inbox.js; reading them marks them read."""
        conversation = _conversation(conversation_id)
        after = request.args.get("after", "0")
        if not (after.isascii() and after.isdigit()) or len(after) > 18:  # "²" is a digit to isdigit
            return jsonify(error={"field": "after", "message": "a message id (digits)"}), 400
        body = conversations.as_json(conversation, messages=True)
        fresh = [dict(m, at_local=formatting.local_time(m["at"])) for m in body.pop("messages") if m["id"] > int(after)]
        if fresh and conversation.unread_count:
            conversations.mark_read(conversation)
        return jsonify(conversation=body, messages=fresh), 200, {"Cache-Control": "no-store"}

    @expose("/<int:conversation_id>/reply", methods=("POST",))
    def reply(self, conversation_id: int):
        conversation = _conversation(conversation_id)
        token = request.form.get("reply_token", "")
        text = request.form.get("text", "")
        if not 16 <= len(token) <= 48:
            return self._thread(conversation, text=text, error=_("The form has no send token: reload the page."),
                                status=400)
        if not once.claim(f"reply:{token}"):  # this form was sent already (a double-click, a resubmission)
            db.session.rollback()
            flash(_("That reply was sent already."), "info")
            return redirect(url_for(".thread", conversation_id=conversation_id))
        try:
            rendered = merge.render(conversation, text)
            conversations.reply(conversation, rendered, agent_user_id=current_user.id)
        except (FieldError, conversations.ConversationError) as error:
            db.session.rollback()
            if error.field == "text":  # the text's fault: said at the reply box, which keeps it
                return self._thread(conversation, text=text, errors={"text": field_message(error)}, status=400)
            return self._thread(conversation, text=text, error=str(error), status=400)
        flash(_("Reply queued."), "success")
        return redirect(url_for(".thread", conversation_id=conversation_id))

    def _act(self, conversation_id: int, action, done: str, refused_status: int = 400):
        """Run one conversation action; a refusal shows the thread with why, success flashes ``done``."""
        conversation = _conversation(conversation_id)
        try:
            action(conversation)
        except conversations.ConversationError as error:
            return self._thread(conversation, error=str(error), status=refused_status)
        flash(done, "success")
        return redirect(url_for(".thread", conversation_id=conversation_id))

    @expose("/<int:conversation_id>/assign", methods=("POST",))
    def assign(self, conversation_id: int):
        mine = request.form.get("to") != "nobody"
        return self._act(conversation_id, lambda c: conversations.assign(c, current_user.id if mine else None),
                         _("Assigned to you.") if mine else _("Unassigned."))

    @expose("/<int:conversation_id>/close", methods=("POST",))
    def close(self, conversation_id: int):
        return self._act(conversation_id, conversations.close,
                         _("Conversation closed: the shopper's held marketing messages are due again."))

    @expose("/<int:conversation_id>/reopen", methods=("POST",))
    def reopen(self, conversation_id: int):
        return self._act(conversation_id, conversations.reopen, _("Conversation reopened."), refused_status=409)

    @expose("/<int:conversation_id>/reason", methods=("POST",))
    def reason(self, conversation_id: int):
        reason = request.form.get("reason") or None
        return self._act(conversation_id, lambda c: conversations.set_reason(c, reason), _("Reason saved."))

    # Canned replies: the store's ready answers (owners and admins write them, everyone who answers uses them).
    @expose("/canned")
    @requires(users.MANAGE)
    def canned(self):
        return self._canned_page()

    def _canned_page(self, refused: CannedReply | None = None, errors: dict[str, str] | None = None,
                     status: int = 200):
        """``refused``: the reply whose form was refused (new, or one of the list), shown with ``errors`` at its
        fields and the text as typed."""
        return self.render("retainful_admin/canned_replies.html", canned=_canned(current_store().id),
                           refused_id=(refused.id or "new") if refused is not None else None,
                           errors=errors or {}, form=request.form), status

    def _canned_errors(self, title: str | None, text: str | None) -> dict[str, str]:
        """Every field's problem (both can be wrong at once)."""
        errors = {}
        if not title or len(title) > MAX_TITLE:
            errors["title"] = _("Required, at most %(num)d characters.", num=MAX_TITLE)
        if not text or len(text) > conversations.service.MAX_TEXT:
            errors["text"] = _("Required, at most %(num)d characters.", num=conversations.service.MAX_TEXT)
        else:
            try:
                merge.check(current_store(), text)  # a text that cannot render is refused when saved, not when sent
            except FieldError as error:
                errors["text"] = field_message(error)
        return errors

    def _save_canned(self, row: CannedReply):
        title, text = forms.text(request.form, "title"), forms.text(request.form, "text")
        errors = self._canned_errors(title, text)
        if errors:
            db.session.rollback()
            return self._canned_page(row, errors, 400)
        row.title, row.text = title, text
        db.session.add(row)
        db.session.commit()
        flash(_("Canned reply saved."), "success")
        return redirect(url_for(".canned"))

    @expose("/canned/new", methods=("POST",))
    @requires(users.MANAGE)
    def canned_create(self):
        return self._save_canned(CannedReply(store_id=current_store().id))

    @expose("/canned/<int:canned_id>", methods=("POST",))
    @requires(users.MANAGE)
    def canned_update(self, canned_id: int):
        return self._save_canned(get_scoped_or_404(CannedReply, canned_id))

    @expose("/canned/<int:canned_id>/delete", methods=("POST",))
    @requires(users.MANAGE)
    def canned_delete(self, canned_id: int):
        db.session.delete(get_scoped_or_404(CannedReply, canned_id))
        db.session.commit()
        flash(_("Canned reply deleted."), "success")
        return redirect(url_for(".canned"))
