"""Logging for every process (web, worker, CLI): the level from LOG_LEVEL, and no personal data in any line.

Emails and phone numbers are masked, and request lines lose their query string, in every record any library makes,
before a handler sees it. The masking sits in the log record factory rather than in one handler's filter, so handlers
added later (a WSGI server's, gunicorn's access log, pytest's) get masked records too.
"""
from __future__ import annotations

import logging
import re

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


def install_masking() -> None:
    """Mask every log record of this process from now on (idempotent: create_app may run many times)."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "masks_personal_data", False):
        return

    def masking_factory(*args, **kwargs) -> logging.LogRecord:
        return _masked(factory(*args, **kwargs))

    masking_factory.masks_personal_data = True
    logging.setLogRecordFactory(masking_factory)


def configure(level: str) -> None:
    """Called by create_app, so the web app, `retainful serve`, `retainful worker` and every CLI command get it."""
    install_masking()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if level != "DEBUG":  # APScheduler logs every run at INFO: our jobs log what they did
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
