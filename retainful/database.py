"""How long the database may keep a caller waiting, and which of its failures mean "busy or down, retry later".

A web request holds one of the server's few threads while it waits for a lock, so it waits briefly and is answered
503 with Retry-After; the scheduler's jobs run in no request and wait as long as before (their work must get done).
"""
from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout

import psycopg
import sqlalchemy as sa
from flask import Flask, current_app, has_request_context
from sqlalchemy.pool import NullPool

from retainful.extensions import db

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 5  # a hung PostgreSQL server costs a request this long, not the minutes TCP would wait
WORKER_LOCK_WAIT_MS = 10_000  # SQLite's busy timeout for jobs and commands; PostgreSQL jobs wait for locks unbounded
RETRY_AFTER_SECONDS = 5
LATER_WRITES_MAX = 10_000  # deferred writes kept in memory (a click is a few hundred bytes)
HEALTH_TIMEOUT_SECONDS = 0.8  # the whole check, connection included, so /healthz answers within a second
# SQLite's write lock must come this fast: a check queued behind writes that each waited WEB_LOCK_TIMEOUT_MS for a
# waitress thread must still answer within a second.
HEALTH_SQLITE_LOCK_WAIT_MS = 200
# SQLite's primary result codes for a busy, locked, missing or failing database file (not a bug in a statement).
_SQLITE_UNAVAILABLE = {5, 6, 10, 13, 14, 15}  # BUSY, LOCKED, IOERR, FULL, CANTOPEN, PROTOCOL


def unavailable(error: BaseException) -> bool:
    """Whether this error says the database is busy, locked, unreachable or out of connections (so a retry may work),
    rather than that a statement is wrong."""
    if isinstance(error, sa.exc.TimeoutError):  # no free connection in the pool in time
        return True
    if isinstance(error, sa.exc.DBAPIError):
        if error.connection_invalidated:
            return True
        error = error.orig
    if isinstance(error, sqlite3.OperationalError):
        return (getattr(error, "sqlite_errorcode", 0) & 0xFF) in _SQLITE_UNAVAILABLE
    # psycopg's OperationalError covers its connection, lock-timeout, cancel, shutdown and resource classes; wrong
    # statements are ProgrammingError or DataError.
    return isinstance(error, psycopg.OperationalError)


def error_summary(error: BaseException) -> str:
    """The error's kind for a log line: never its text, which can carry the statement's parameters (personal data)."""
    orig = getattr(error, "orig", None) or error
    code = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
    return f"{type(error).__name__} ({type(orig).__name__}{f' {code}' if code else ''})"


def now_or_later(what: str, write: Callable[[], None]) -> None:
    """Run ``write`` (it commits). If the database is busy or down, hand it to the background writer instead, so the
    caller's answer (a shopper's redirect) never waits for it. ``write`` must use plain values, not ORM objects: it
    may run in another session. Any other error still raises."""
    try:
        write()
    except sa.exc.SQLAlchemyError as error:
        if not unavailable(error):
            raise
        db.session.rollback()
        _LATER.defer(current_app._get_current_object(), what, write, error)


class _LaterWrites:
    """Writes that failed only because the database was busy or down, retried oldest first by one thread per process,
    waiting for locks as a job does, until they succeed. At most ``LATER_WRITES_MAX`` wait (memory is bounded; a
    restart loses them)."""

    def __init__(self):
        self._queue: queue.Queue = queue.Queue(maxsize=LATER_WRITES_MAX)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def defer(self, app: Flask, what: str, write: Callable[[], None], error: Exception) -> None:
        try:
            self._queue.put_nowait((app, what, write))
        except queue.Full:
            log.warning("%s not recorded: the database is busy or unavailable and %d writes already wait: %s", what,
                        LATER_WRITES_MAX, error_summary(error))
            return
        log.warning("%s deferred: the database is busy or unavailable: %s", what, error_summary(error))
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="retainful-later-writes", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            app, what, write = self._queue.get()
            with app.app_context():
                while not self._attempt(what, write):
                    time.sleep(RETRY_AFTER_SECONDS)

    @staticmethod
    def _attempt(what: str, write: Callable[[], None]) -> bool:
        """True once done with: written, or failed for a reason no retry fixes."""
        try:
            write()
        except Exception as error:  # the thread must outlive any one write
            db.session.rollback()
            if unavailable(error):
                return False
            log.error("%s could not be recorded: %s", what, error_summary(error))
        return True


_LATER = _LaterWrites()


def bound_waits(app: Flask) -> None:
    """The app's connections wait for locks ``WEB_LOCK_TIMEOUT_MS`` in a web request, else as long as before, and
    give up connecting to a PostgreSQL server that does not answer. The lock wait is set only when a connection
    changes hands between a request and a job, so it costs nothing per request."""
    web_ms = app.config["WEB_LOCK_TIMEOUT_MS"]
    with app.app_context():
        engine = db.engine
    sqlite = engine.dialect.name == "sqlite"

    def on_connect(_dialect, _record, _cargs, cparams) -> None:
        cparams.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)

    def on_checkout(dbapi_connection, record, _proxy) -> None:
        wanted = web_ms if has_request_context() else (WORKER_LOCK_WAIT_MS if sqlite else 0)
        if record.info.get("lock_wait_ms") == wanted:
            return
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={wanted:d}" if sqlite else f"SET lock_timeout = {wanted:d}")
        cursor.close()
        if not sqlite:
            dbapi_connection.commit()  # a SET inside a transaction that is rolled back would be undone
        record.info["lock_wait_ms"] = wanted

    if not sqlite:
        sa.event.listen(engine, "do_connect", on_connect)
    sa.event.listen(engine, "checkout", on_checkout)


class HealthCheck:
    """A round trip on a connection of its own (never one queued for in the app's pool), answered within
    ``HEALTH_TIMEOUT_SECONDS`` whatever the database does. SQLite must also grant its write lock: with the lock held,
    every write would be answered 503. Concurrent checks share the one in flight, so a hung database costs one
    thread, not one per check."""

    def __init__(self, url: sa.URL):
        self._sqlite = url.get_backend_name() == "sqlite"
        # psycopg rounds connect_timeout up to 2 s; the thread's deadline bounds the answer, this bounds the thread.
        args = {"timeout": 0} if self._sqlite else {
            "connect_timeout": 2, "options": f"-c statement_timeout={int(HEALTH_TIMEOUT_SECONDS * 1000):d}"}
        self._engine = sa.create_engine(url, poolclass=NullPool, connect_args=args)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="healthz")
        self._lock = threading.Lock()
        self._in_flight = None

    def _round_trip(self) -> None:
        with self._engine.connect() as conn:
            if self._sqlite:
                conn.exec_driver_sql(f"PRAGMA busy_timeout={HEALTH_SQLITE_LOCK_WAIT_MS:d}")
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            conn.exec_driver_sql("SELECT 1")
            conn.rollback()

    def healthy(self) -> bool:
        with self._lock:
            if self._in_flight is None or self._in_flight.done():
                self._in_flight = self._executor.submit(self._round_trip)
            in_flight = self._in_flight
        try:
            in_flight.result(timeout=HEALTH_TIMEOUT_SECONDS)
        except FutureTimeout:
            log.warning("health check: the database did not answer within %.1f s", HEALTH_TIMEOUT_SECONDS)
            return False
        except sa.exc.SQLAlchemyError as error:
            log.warning("health check: database unavailable: %s", error_summary(error))
            return False
        return True
