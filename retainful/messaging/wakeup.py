"""Sleep until the outbox may have work: the earliest of the next ``due_at`` known, a NOTIFY that a message was
written scheduled (PostgreSQL), the poll interval, or shutdown.

On PostgreSQL, migration 0020's triggers NOTIFY ``retainful_outbox`` with the earliest ``due_at`` a statement wrote
scheduled, whoever wrote it; a dedicated psycopg connection outside SQLAlchemy's pool LISTENs, and reconnects when it
drops (a reconnect wakes the worker at once: a message may have fallen due unheard). On SQLite, which has no NOTIFY,
the worker polls at the interval, as before; the next known ``due_at`` still wakes it early.
"""
from __future__ import annotations

import logging
import threading
import time

import psycopg
import sqlalchemy as sa
from flask import Flask

from retainful import clock
from retainful.extensions import db
from retainful.models import Message, MessageStatus

log = logging.getLogger(__name__)

CHANNEL = "retainful_outbox"
SLICE_S = 0.5  # the longest one read of the LISTEN connection blocks, so a shutdown is seen within it


def next_due_in(app: Flask, poll: float) -> float:
    """Seconds until the earliest scheduled message falls due, capped at ``poll``; ``poll`` when none is known."""
    with app.app_context():
        try:
            earliest = db.session.scalar(sa.select(sa.func.min(Message.due_at))
                                         .where(Message.status == MessageStatus.SCHEDULED))
        except sa.exc.SQLAlchemyError:
            log.warning("dispatch: could not read the next due time; polling")
            return poll
        finally:
            db.session.remove()
    if earliest is None:
        return poll
    return min(poll, max(0.0, (earliest - clock.now()).total_seconds()))


class Poll:
    """SQLite: sleep until the next known due time or the poll interval."""

    def __init__(self, app: Flask, poll: float):
        self.app, self.poll = app, poll

    def wait(self, stop: threading.Event) -> None:
        stop.wait(next_due_in(self.app, self.poll))

    def close(self) -> None:
        pass


class Listen(Poll):
    """PostgreSQL: LISTEN on a connection of its own, so a NOTIFY of a message due now (or sooner than the next due
    time known) ends the wait."""

    def __init__(self, app: Flask, poll: float):
        super().__init__(app, poll)
        url = db.engine.url.set(drivername="postgresql")
        self.conninfo = url.render_as_string(hide_password=False)
        self.conn = None
        self._connect()  # before the first dispatch run, so nothing written after that run's claim goes unheard

    def _connect(self) -> bool:
        try:
            self.conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5)
            self.conn.execute(f"LISTEN {CHANNEL}")
            return True
        except psycopg.Error as error:
            log.warning("dispatch: cannot LISTEN (%s); polling until the database answers", type(error).__name__)
            self.close()
            return False

    def wait(self, stop: threading.Event) -> None:
        if self.conn is not None:  # what was heard before now is in the next due time read below: forget it
            try:
                for _ in self.conn.notifies(timeout=0):
                    pass
            except psycopg.Error:
                self.close()
        deadline = time.monotonic() + next_due_in(self.app, self.poll)
        while not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if self.conn is None:
                if self._connect():
                    return  # what fell due while the connection was down was not heard: look now
                stop.wait(min(remaining, 1.0))
                continue
            try:
                for note in self.conn.notifies(timeout=min(remaining, SLICE_S)):
                    try:
                        due_in = float(note.payload) - clock.now().timestamp()
                    except ValueError:  # not one of the triggers' (a NOTIFY by hand): look now
                        return
                    if due_in <= 0:
                        return
                    deadline = min(deadline, time.monotonic() + due_in)
            except psycopg.Error as error:
                log.warning("dispatch: the LISTEN connection failed (%s); reconnecting", type(error).__name__)
                self.close()  # the next turn reconnects and wakes the worker

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None


def waiter(app: Flask, poll: float) -> Poll:
    """How this app's worker waits for work (call inside an app context)."""
    return (Listen if db.engine.dialect.name == "postgresql" else Poll)(app, poll)
