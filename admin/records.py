"""Carts, customers, orders, messages and coupons of the current store: filtered lists, detail pages, actions.

Every query starts from ``store_id == current store``; every id in a URL goes through ``get_scoped_or_404``.
Actions call one domain function each.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import Response, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _, ngettext
from flask_login import current_user
from sqlalchemy.orm import selectinload

from retainful_admin.formatting import local_time, recipient
from retainful_admin.framing import inert_email_html
from retainful_admin.i18n import label as value_label
from retainful_admin.security import SecuredMixin, current_store, get_scoped_or_404, requires
from retainful import clock, customers, users
from retainful.channels import names
from retainful.customers.erasure import erase_customer, is_erased
from retainful.customers.export import export_customer
from retainful.errors import FieldError
from retainful.extensions import db
from retainful.messaging.retry import retry_message
from retainful.automations import registry
from retainful.models import (
    TEST_SEND,
    Cart,
    CartStatus,
    Coupon,
    CouponKind,
    CouponRedemption,
    Customer,
    Message,
    MessageStatus,
    Order,
    Store,
    SyncState,
)

PER_PAGE = 50
CART_FILTERS = ("live", "guest", "abandoned", "recovered", "converted", "lost", "deleted")
CUSTOMER_STATES = {
    "email_consent": Customer.email_consent.is_(True),
    "sms_consent": Customer.sms_consent.is_(True),
    "unsubscribed": Customer.unsubscribed_at.is_not(None),
    "sms_opted_out": Customer.sms_opted_out_at.is_not(None),
    "suppressed": Customer.email_suppressed_at.is_not(None),
    "guest": Customer.external_id.is_(None),
}
MESSAGE_KINDS = (*registry.kinds(), TEST_SEND)  # every automation's, and test-sends
COUPON_SYNC_STATES = (SyncState.NOT_CONNECTED, SyncState.PENDING, SyncState.SYNCED, SyncState.FAILED)


def _page() -> int:
    page = request.args.get("page", type=int) or 1
    return max(1, min(page, 100_000))


def _paginate(query: sa.Select):
    return db.paginate(query, page=_page(), per_page=PER_PAGE, error_out=False)


def _customer_ids_matching(store: Store, q: str) -> sa.Select:
    """Customers of the store whose email, phone or name contains ``q`` (phones by their digits)."""
    needle = q.strip().lower()
    conditions = [sa.func.lower(Customer.email).contains(needle, autoescape=True),
                  sa.func.lower(Customer.first_name).contains(needle, autoescape=True),
                  sa.func.lower(Customer.last_name).contains(needle, autoescape=True)]
    digits = re.sub(r"\D", "", q)
    if len(digits) >= 3:
        conditions.append(Customer.phone.contains(digits, autoescape=True))
    return sa.select(Customer.id).where(Customer.store_id == store.id, sa.or_(*conditions))


class _RecordView(SecuredMixin, BaseView):
    def _domain_error(self, error: FieldError, target: str):
        db.session.rollback()
        flash(error.message, "error")
        return redirect(target)


# --------------------------------------------------------------------------------------------------- carts


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime | None
    event: str  # created, abandoned, planned, sent, skipped, cancelled, failed, scheduled, opened, clicked, ...
    text: str
    message_id: int | None = None
    order_id: int | None = None


def _message_label(message: Message) -> str:
    step = _("step %(n)s", n=message.step.position) + " " if message.step is not None else ""
    test = _("test-send") + " " if message.kind == TEST_SEND else ""  # a marketer's, from this cart: not the shopper's
    return f"{step}{test}{value_label(message.channel)}"


def cart_timeline(cart: Cart, messages: list[Message], orders: list[Order]) -> list[TimelineEvent]:
    """The cart's story in time order: its life, each message planned, sent or stopped, opened and clicked, orders."""
    events = [TimelineEvent(cart.created_at, "created", _("Cart created"))]
    if cart.abandoned_at:
        events.append(TimelineEvent(cart.abandoned_at, "abandoned", _("Abandoned")))
    for m in messages:
        label = _message_label(m)
        to = recipient(m)
        events.append(TimelineEvent(m.created_at, "planned", _("Planned %(message)s for %(to)s, due %(time)s",
                                                                 message=label, to=to, time=local_time(m.due_at)),
                                    message_id=m.id))
        if m.status == MessageStatus.SENT:
            events.append(TimelineEvent(m.sent_at, "sent", _("Sent %(message)s to %(to)s", message=label, to=to),
                                        message_id=m.id))
        elif m.status == MessageStatus.SKIPPED:
            events.append(TimelineEvent(m.updated_at, "skipped", _("Skipped %(message)s: %(reason)s", message=label,
                                                                   reason=m.skip_reason or _("unknown")),
                                        message_id=m.id))
        elif m.status == MessageStatus.CANCELLED:
            events.append(TimelineEvent(m.updated_at, "cancelled", _("Cancelled %(message)s", message=label),
                                        message_id=m.id))
        elif m.status == MessageStatus.FAILED:
            events.append(TimelineEvent(m.updated_at, "failed", _("Failed %(message)s: %(reason)s", message=label,
                                                                  reason=m.error or _("no reason given")),
                                        message_id=m.id))
        else:
            events.append(TimelineEvent(m.due_at, "scheduled", _("Due %(message)s for %(to)s", message=label, to=to),
                                        message_id=m.id))
        for column, event, text in ((m.delivered_at, "delivered", _("Delivered %(message)s")),
                                    (m.opened_at, "opened", _("Opened %(message)s")),
                                    (m.clicked_at, "clicked", _("Clicked %(message)s")),
                                    (m.bounced_at, "bounced", _("Bounced %(message)s"))):
            if column:
                events.append(TimelineEvent(column, event, text % {"message": label}, message_id=m.id))
    for order in orders:
        placed = _("Order %(id)s placed (credited to recovery)", id=order.external_id) \
            if order.attributed_message_id else _("Order %(id)s placed", id=order.external_id)
        events.append(TimelineEvent(order.placed_at, "ordered", placed, order_id=order.id))
    if cart.closed_at and cart.status in (CartStatus.LOST, CartStatus.DELETED):
        events.append(TimelineEvent(cart.closed_at, cart.status,
                                    _("Closed as %(status)s", status=value_label(cart.status))))
    order_of = {"created": 0, "abandoned": 1, "planned": 2}
    return sorted(events, key=lambda e: (e.at or clock.now(), order_of.get(e.event, 3)))


class CartsView(_RecordView):
    @expose("/")
    def index(self):
        store = current_store()
        status = request.args.get("status", "")
        q = (request.args.get("q") or "").strip()
        query = sa.select(Cart).where(Cart.store_id == store.id).options(selectinload(Cart.customer))
        if status == "guest":
            query = query.outerjoin(Customer, Customer.id == Cart.customer_id).where(
                sa.or_(Cart.customer_id.is_(None), Customer.external_id.is_(None)))
        elif status in CartStatus.ALL:
            query = query.where(Cart.status == status)
        if q:
            query = query.where(Cart.customer_id.in_(_customer_ids_matching(store, q)))
        page = _paginate(query.order_by(Cart.last_activity_at.desc(), Cart.id.desc()))
        return self.render("retainful_admin/carts.html", page=page, status=status, q=q, filters=CART_FILTERS)

    @expose("/<int:cart_id>")
    def detail(self, cart_id: int):
        cart = get_scoped_or_404(Cart, cart_id)
        messages = list(db.session.scalars(sa.select(Message).where(Message.cart_id == cart.id)
                                           .options(selectinload(Message.step))
                                           .order_by(Message.due_at, Message.id)))
        orders = list(db.session.scalars(sa.select(Order).where(Order.cart_id == cart.id).order_by(Order.placed_at)))
        return self.render("retainful_admin/cart.html", cart=cart, messages=messages, orders=orders,
                           timeline=cart_timeline(cart, messages, orders))


# ----------------------------------------------------------------------------------------------- customers


class CustomersView(_RecordView):
    @expose("/")
    def index(self):
        store = current_store()
        state = request.args.get("state", "")
        q = (request.args.get("q") or "").strip()
        query = sa.select(Customer).where(Customer.store_id == store.id)
        if state in CUSTOMER_STATES:
            query = query.where(CUSTOMER_STATES[state])
        if q:
            query = query.where(Customer.id.in_(_customer_ids_matching(store, q)))
        page = _paginate(query.order_by(Customer.last_seen_at.desc(), Customer.id.desc()))
        return self.render("retainful_admin/customers.html", page=page, state=state, q=q,
                           states=tuple(CUSTOMER_STATES))

    @expose("/<int:customer_id>")
    def detail(self, customer_id: int):
        customer = get_scoped_or_404(Customer, customer_id)
        carts = list(db.session.scalars(sa.select(Cart).where(Cart.customer_id == customer.id)
                                        .order_by(Cart.last_activity_at.desc())))
        orders = list(db.session.scalars(sa.select(Order).where(Order.customer_id == customer.id)
                                         .order_by(Order.placed_at.desc())))
        pending = db.session.scalar(sa.select(sa.func.count(Message.id)).where(
            Message.customer_id == customer.id, Message.status.in_(MessageStatus.PENDING)))
        return self.render("retainful_admin/customer.html", customer=customer, carts=carts, orders=orders,
                           pending=pending, erased=is_erased(customer))

    @expose("/<int:customer_id>/export.json")
    @requires(users.MANAGE)
    def export(self, customer_id: int):
        customer = get_scoped_or_404(Customer, customer_id)
        body = json.dumps(export_customer(customer), indent=2, ensure_ascii=False)
        return Response(body, mimetype="application/json", headers={
            "Content-Disposition": f'attachment; filename="customer-{customer.id}.json"',
            "Cache-Control": "no-store"})

    @expose("/<int:customer_id>/erase", methods=("POST",))
    @requires(users.MANAGE)
    def erase(self, customer_id: int):
        customer = get_scoped_or_404(Customer, customer_id)
        target = url_for(".detail", customer_id=customer.id)
        if request.form.get("confirm") != "yes":
            flash(_("Tick the box to confirm: erasing cannot be undone."), "error")
            return redirect(target)
        counts = erase_customer(customer)
        flash(ngettext("Personal data erased; %(num)d pending message cancelled.",
                       "Personal data erased; %(num)d pending messages cancelled.", counts["messages_cancelled"]),
              "success")
        return redirect(target)

    @expose("/<int:customer_id>/unsubscribe", methods=("POST",))
    @requires(users.MANAGE)
    def unsubscribe(self, customer_id: int):
        customer = get_scoped_or_404(Customer, customer_id)
        done = customers.unsubscribe(customer, source=f"admin:{current_user.id}")
        flash(_("Unsubscribed from email.") if done else _("Already unsubscribed."), "success")
        return redirect(url_for(".detail", customer_id=customer.id))

    @expose("/<int:customer_id>/opt-out-sms", methods=("POST",))
    @requires(users.MANAGE)
    def opt_out_sms(self, customer_id: int):
        customer = get_scoped_or_404(Customer, customer_id)
        done = customers.opt_out_sms(customer, source=f"admin:{current_user.id}")
        flash(_("Opted out of SMS.") if done else _("Already opted out of SMS."), "success")
        return redirect(url_for(".detail", customer_id=customer.id))


# -------------------------------------------------------------------------------------------------- orders


class OrdersView(_RecordView):
    @expose("/")
    def index(self):
        store = current_store()
        recovered = request.args.get("recovered", "")
        q = (request.args.get("q") or "").strip()
        query = sa.select(Order).where(Order.store_id == store.id).options(selectinload(Order.customer))
        if recovered == "yes":
            query = query.where(Order.attributed_message_id.is_not(None))
        elif recovered == "no":
            query = query.where(Order.attributed_message_id.is_(None))
        if q:
            query = query.where(sa.or_(Order.external_id.contains(q, autoescape=True),
                                       Order.customer_id.in_(_customer_ids_matching(store, q))))
        page = _paginate(query.order_by(Order.placed_at.desc(), Order.id.desc()))
        return self.render("retainful_admin/orders.html", page=page, recovered=recovered, q=q)

    @expose("/<int:order_id>")
    def detail(self, order_id: int):
        order = get_scoped_or_404(Order, order_id)
        message = db.session.get(Message, order.attributed_message_id) if order.attributed_message_id else None
        coupons = list(db.session.scalars(sa.select(Coupon).where(Coupon.order_id == order.id)))
        return self.render("retainful_admin/order.html", order=order, message=message, coupons=coupons)


# ------------------------------------------------------------------------------------------------ messages


class MessagesView(_RecordView):
    @expose("/")
    def index(self):
        store = current_store()
        status, channel, kind = (request.args.get(name, "") for name in ("status", "channel", "kind"))
        q = (request.args.get("q") or "").strip()
        query = sa.select(Message).where(Message.store_id == store.id).options(
            selectinload(Message.step), selectinload(Message.customer))
        if status in MessageStatus.ALL:
            query = query.where(Message.status == status)
        if channel in names():
            query = query.where(Message.channel == channel)
        if kind in MESSAGE_KINDS:
            query = query.where(Message.kind == kind)
        if q:
            query = query.where(sa.or_(sa.func.lower(Message.recipient).contains(q.lower(), autoescape=True),
                                       Message.customer_id.in_(_customer_ids_matching(store, q))))
        page = _paginate(query.order_by(Message.due_at.desc(), Message.id.desc()))
        return self.render("retainful_admin/messages.html", page=page, status=status, channel=channel, kind=kind,
                           q=q, statuses=MessageStatus.ALL, kinds=MESSAGE_KINDS)

    @expose("/<int:message_id>")
    def detail(self, message_id: int):
        message = get_scoped_or_404(Message, message_id)
        orders = list(db.session.scalars(sa.select(Order).where(Order.attributed_message_id == message.id)))
        return self.render("retainful_admin/message.html", message=message, orders=orders,
                           html_document=inert_email_html(message.body_html))

    @expose("/<int:message_id>/retry", methods=("POST",))
    @requires(users.MANAGE)
    def retry(self, message_id: int):
        message = get_scoped_or_404(Message, message_id)
        target = url_for(".detail", message_id=message.id)
        try:
            retry_message(message)
        except FieldError as error:
            return self._domain_error(error, target)
        flash(_("Scheduled again: it goes out with the next dispatch round (the send policy is checked again)."),
              "success")
        return redirect(target)


# ------------------------------------------------------------------------------------------------- coupons


class CouponsView(_RecordView):
    @expose("/")
    def index(self):
        store = current_store()
        kind, state, sync = (request.args.get(name, "") for name in ("kind", "state", "sync"))
        q = (request.args.get("q") or "").strip()
        query = sa.select(Coupon).where(Coupon.store_id == store.id)
        if kind in (CouponKind.RECOVERY, CouponKind.NEXT_ORDER, CouponKind.WIN_BACK):
            query = query.where(Coupon.kind == kind)
        now = clock.now()
        if state == "redeemed":
            query = query.where(Coupon.usage_count > 0)
        elif state == "active":
            query = query.where(Coupon.usage_count < Coupon.usage_limit, Coupon.expires_at > now)
        elif state == "expired":
            query = query.where(Coupon.usage_count == 0, Coupon.expires_at <= now)
        if sync in COUPON_SYNC_STATES:
            query = query.where(Coupon.sync_state == sync)
        if q:
            query = query.where(sa.or_(sa.func.upper(Coupon.code).contains(q.upper(), autoescape=True),
                                       sa.func.lower(Coupon.email).contains(q.lower(), autoescape=True)))
        page = _paginate(query.order_by(Coupon.created_at.desc(), Coupon.id.desc()))
        return self.render("retainful_admin/coupons.html", page=page, kind=kind, state=state, sync=sync, q=q,
                           sync_states=COUPON_SYNC_STATES, now=now)

    @expose("/<int:coupon_id>")
    def detail(self, coupon_id: int):
        coupon = get_scoped_or_404(Coupon, coupon_id)
        redemptions = list(db.session.scalars(sa.select(CouponRedemption).where(
            CouponRedemption.coupon_id == coupon.id).order_by(CouponRedemption.redeemed_at)))
        messages = list(db.session.scalars(sa.select(Message).where(Message.coupon_id == coupon.id)))
        return self.render("retainful_admin/coupon.html", coupon=coupon, redemptions=redemptions,
                           messages=messages, now=clock.now())
