"""Logging for every process (web, worker, CLI): the level from LOG_LEVEL, and no personal data in any line.

Emails and phone numbers are masked, and request lines lose their query string, in every record any library makes,
before a handler sees it. The masking sits in the log record factory rather than in one handler's filter, so handlers
added later (a WSGI server's, gunicorn's access log, pytest's) get masked records too.

The same factory stamps each record with the request id, store id and message id in effect (context variables set
by the request hooks, the API's authentication and the dispatcher), which ``LOG_FORMAT=json`` writes out.
"""
from __future__ import annotations

import json
import logging
import re
import secrets
import time
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone

from flask import Flask, Response, g, request

# Local part and domain as mail systems write them (any script), also percent-encoded in a URL (%40 for @).
_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+")
# International numbers (+ or %2B then 7-15 digits, maybe spaced), E.164 without the + as Vonage writes it
# (11-15 digits), and North American ones written the local way: (202) 555-0199, 202-555-0199, 202.555.0199.
_PHONE = re.compile(r"(?:\+|%2[bB])\d(?:[ ().-]{0,2}\d){6,14}(?!\d)"
                    r"|(?<![\d.])\d{11,15}(?![\d.])"
                    r"|(?<!\d)\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?!\d)")
# "GET /path?query HTTP/1.1" as access logs write a request line: the query string can carry anything.
_REQUEST_QUERY = re.compile(r"\b((?:GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) [^\s?\"]*)\?[^\s\"]*")


def mask(text: str) -> str:
    """The text with emails, phone numbers and request query strings replaced."""
    text = _REQUEST_QUERY.sub(r"\1?[query]", text)
    return _PHONE.sub("[phone]", _EMAIL.sub("[email]", text))


def _masked(record: logging.LogRecord) -> logging.LogRecord:
    """Format the message now (its args may hold anything), mask it, and mask the traceback the same way."""
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: keep the text, never the arguments
        message = f"{record.msg} [arguments dropped: they did not fit the format]"
    record.msg, record.args = mask(str(message)), ()
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = mask(record.exc_text)
    if record.stack_info:
        record.stack_info = mask(record.stack_info)
    return record


ACCESS_FIELDS = ("method", "path", "status", "duration_ms")
_CONTEXT: ContextVar[dict] = ContextVar("retainful_log_context", default={})
# A caller's X-Request-ID is kept only if it is this plain (it is echoed in a header and written to logs).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_ID_LETTERS = "abcdefghjkmnpqrstuvwxyz"
access_log = logging.getLogger("retainful.access")


def bind(**fields) -> None:
    """Add fields to every record of the current request or thread from now on (cleared when the request ends)."""
    _CONTEXT.set({**_CONTEXT.get(), **fields})


@contextmanager
def context(**fields):
    """Add fields to the records logged inside the block."""
    token = _CONTEXT.set({**_CONTEXT.get(), **fields})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def install_masking() -> None:
    """Mask every log record of this process from now on (idempotent: create_app may run many times)."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "masks_personal_data", False):
        return

    def masking_factory(*args, **kwargs) -> logging.LogRecord:
        record = _masked(factory(*args, **kwargs))
        record.retainful_context = _CONTEXT.get()  # one attribute: a library's extra={"request_id": ...} still works
        return record

    masking_factory.masks_personal_data = True
    logging.setLogRecordFactory(masking_factory)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, the (masked) message, the context ids and an access line's
    fields where they apply, and the (masked) traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "message": mask(record.getMessage())}
        access = {name: getattr(record, name, None) for name in ACCESS_FIELDS}
        fields = {**getattr(record, "retainful_context", {}), **access}
        for name, value in fields.items():
            if value is not None:
                entry[name] = value if isinstance(value, (int, float)) else mask(str(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = mask(record.exc_text)
        if record.stack_info:
            entry["stack"] = mask(record.stack_info)
        return json.dumps(entry)


def configure(level: str, log_format: str = "text") -> None:
    """Called by create_app, so the web app, `retainful serve`, `retainful worker` and every CLI command get it."""
    install_masking()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if log_format == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    if level != "DEBUG":  # APScheduler logs every run at INFO: our jobs log what they did
        logging.getLogger("apscheduler").setLevel(logging.WARNING)


def request_id(offered: str | None) -> str:
    """The caller's X-Request-ID if it is plain enough to echo, else a new one."""
    if offered and _REQUEST_ID.fullmatch(offered):
        return offered
    # Letters only (32 of 23: 144 random bits): a hex id's run of digits can read as a phone number, and the masking
    # would then log an id that is not the one the client got.
    return "".join(secrets.choice(_ID_LETTERS) for _ in range(32))


def init_app(app: Flask) -> None:
    """Every request gets an id (kept from a proxy's plain X-Request-ID, else new), returned as X-Request-ID and
    stamped on its log records, and one access log line; the path is the matched route (``/r/<code>``), so the
    secrets and tokens in links never reach a log."""

    @app.before_request
    def _request_started() -> None:
        g.request_id = request_id(request.headers.get("X-Request-ID"))
        g.log_started = time.perf_counter()
        _CONTEXT.set({"request_id": g.request_id})  # nothing of the thread's previous request

    @app.after_request
    def _request_finished(response: Response) -> Response:
        rid = g.get("request_id") or request_id(None)
        response.headers["X-Request-ID"] = rid
        path = request.url_rule.rule if request.url_rule is not None else request.path[:200]
        duration_ms = round((time.perf_counter() - g.get("log_started", time.perf_counter())) * 1000, 1)
        access_log.info("%s %s %s %.1fms", request.method, path, response.status_code, duration_ms,
                        extra={"method": request.method, "path": path, "status": response.status_code,
                               "duration_ms": duration_ms})
        return response

    @app.teardown_request
    def _request_ended(_error) -> None:
        _CONTEXT.set({})
