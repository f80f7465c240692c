"""The process is shutting down: loops stop taking new work, finish what they hold, and return.

One event for the whole process, set by SIGTERM or SIGINT in ``retainful worker`` (see :func:`on_signals`) or by
``retainful serve`` as it stops. A second signal is not caught: it ends the process the default way.
"""
from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger(__name__)

requested = threading.Event()
SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _handle(signum: int, _frame) -> None:
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    log.info("%s: shutting down (sends in flight finish and are recorded; a second signal kills)",
                signal.Signals(signum).name)
    requested.set()


def on_signals() -> threading.Event:
    """SIGTERM and SIGINT request a graceful shutdown (main thread only); returns the event."""
    for sig in SIGNALS:
        signal.signal(sig, _handle)
    return requested
