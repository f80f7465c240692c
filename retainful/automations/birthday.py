"""``birthday``: on the customer's birthday, at ``at_hour`` (10) in their local time, an email (and, with consent, an
SMS) with a code valid 7 days. Off by default.

Found by scanning (:meth:`Birthday.due`): the ``automations`` job reads, once per UTC day and store, the customers
whose birthday is yesterday, today or tomorrow (every zone's "today" is among them), a batch at a time from a cursor;
each is planned at ``at_hour`` of their own birthday. The subject carries the year (``customer:3@2026``), so the
birthday comes once a year whatever the job does. A birthday on Feb 29 is kept on Feb 28 in other years.
"""
from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import sqlalchemy as sa

from retainful import clock
from retainful.automations import registry
from retainful.automations.base import Automation, StepDefault, Target, consented_channels
from retainful.automations.lifecycle import sample_coupon, series_coupon
from retainful.automations.send_time import recipient_zone
from retainful.customers.birthdays import birthday_in
from retainful.extensions import db
from retainful.models import CouponKind, Customer, DiscountType, Order
from retainful.rendering.context import last_order_vars, sample_order
from retainful.words import N_


def _month_days(day: date) -> list[str]:
    """The stored forms' ``MM-DD`` that are celebrated on ``day`` (Feb 28 of a common year is Feb 29's too)."""
    days = [f"{day.month:02d}-{day.day:02d}"]
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        days.append("02-29")
    return days


def _celebrated(month_days: list[str]):
    """``MM-DD`` or ``YYYY-MM-DD`` on one of these month-days."""
    return sa.or_(*(sa.or_(Customer.birthday == md, Customer.birthday.like(f"%-{md}")) for md in month_days))


class Birthday(Automation):
    kind = "birthday"
    title = N_("Birthday")
    default_steps = (StepDefault(timedelta(0), email=True, sms=True, at_hour=10, coupon_type=DiscountType.PERCENT,
                                 coupon_amount=Decimal(15), coupon_valid_hours=7 * 24),)
    coupon_kind = CouponKind.BIRTHDAY
    stale_after = timedelta(hours=14)  # at 10:00 on the day, or later that day, never the day after
    min_delay = timedelta(0)
    max_delay = timedelta(days=7)

    def channels_for(self, step, customer):
        return consented_channels(step, customer)

    def due(self, store, settings, now, limit):
        """The next customers (by id, from ``settings.cursor_id``) whose birthday is within a day of today (UTC);
        ``cursor_at`` is the day being scanned, ``cursor_id`` None once it is done."""
        today = now.date()
        start = datetime.combine(today, time(0), tzinfo=now.tzinfo)
        if settings.cursor_at is None or settings.cursor_at < start:
            settings.cursor_at, settings.cursor_id = start, 0
        elif settings.cursor_id is None:
            return []
        days = [today - timedelta(days=1), today, today + timedelta(days=1)]
        customers = list(db.session.scalars(sa.select(Customer).where(
            Customer.store_id == store.id, Customer.id > settings.cursor_id, Customer.birthday.is_not(None),
            _celebrated([md for day in days for md in _month_days(day)])).order_by(Customer.id).limit(limit)))
        settings.cursor_id = customers[-1].id if len(customers) == limit else None
        targets = []
        for customer in customers:
            day = next(d for d in days if birthday_in(customer.birthday, d.year) == d)
            zone = recipient_zone(customer.phone, customer.locale, store.timezone)
            midnight = datetime.combine(day, time(0), tzinfo=zone).astimezone(now.tzinfo)
            targets.append(Target(f"customer:{customer.id}@{day.year}", customer, midnight))
        return targets

    def coupon_for(self, message, store):
        return series_coupon(message, store, CouponKind.BIRTHDAY)

    def template_vars(self, message, store):
        last = db.session.scalar(sa.select(Order).where(Order.customer_id == message.customer_id)
                                 .order_by(Order.placed_at.desc()).limit(1))
        return last_order_vars(last, clock.now())

    def sample_vars(self, store):
        return {**last_order_vars(sample_order(store), clock.now()), "coupon": sample_coupon("15% off", 7)}


BIRTHDAY = registry.register(Birthday())
