"""gunicorn's settings for the web app: ``gunicorn -c python:retainful.gunicorn_conf retainful.wsgi:app``.

Read from the environment like every other setting (README's settings table), so the container, the systemd unit and
a shell all start the web the same way. The scheduler is never in these processes: it runs in ``retainful worker``.
"""
import os
import tempfile

# Every web worker's request metrics in one folder, so /metrics adds them up whichever worker answers the scrape. It
# must be set before prometheus_client is first imported (below, through retainful); a folder of its own per start
# holds no counts of an earlier run. An operator's PROMETHEUS_MULTIPROC_DIR wins (it must exist and be emptied).
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="retainful-metrics-"))

from retainful.config import _whole_number  # noqa: E402

# GUNICORN_BIND wins (one address or several, comma-separated); else PORT on every interface, as gunicorn itself
# reads PORT (a platform that sets PORT routes to it); else loopback only, for a reverse proxy on the same host.
bind = [address.strip() for address in os.environ.get("GUNICORN_BIND", "").split(",") if address.strip()] or (
    [f"0.0.0.0:{_whole_number('PORT', 8000, 1, 65535)}"] if os.environ.get("PORT") else ["127.0.0.1:8000"])
# Sync workers: a request is short database work; gunicorn's rule of thumb is 2 per core + 1.
workers = _whole_number("WEB_CONCURRENCY", 2 * len(os.sched_getaffinity(0)) + 1, 1, 1024)
# A request stuck this long is killed (the database answers 503 in under a second when it is busy); on SIGTERM a
# worker gets as long to finish the requests it holds.
timeout = graceful_timeout = _whole_number("GUNICORN_TIMEOUT", 30, 1, 3600)
keepalive = 5  # behind a reverse proxy that keeps connections open
# Whose X-Forwarded-Proto/-For gunicorn believes (https links, secure cookies); the client address for login
# throttling is TRUSTED_PROXY_COUNT's business, in the app.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# The heartbeat files on a RAM disk where there is one: a container's overlay filesystem can stall them.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
errorlog = "-"

# Server hooks: a dead worker's Prometheus gauges leave the multiprocess files (with PROMETHEUS_MULTIPROC_DIR set).
from retainful.metrics import child_exit  # noqa: E402,F401
