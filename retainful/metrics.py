"""Prometheus metrics: request counts and durations from the web processes, the rest from the database at scrape time.

Request metrics live in each web process (under gunicorn, in ``PROMETHEUS_MULTIPROC_DIR``, merged at scrape time by
prometheus_client's multiprocess collector; ``child_exit`` tidies up after a worker). Queue depth, due lag, sends, job
durations and failures, and heartbeats are what the worker processes wrote to the database (retainful.heartbeat):
computed once per scrape by the process that answers it, so they are never multiplied by the number of web
processes, and a worker in another container needs no shared directory and no port of its own.

/metrics answers ``Authorization: Bearer <METRICS_TOKEN>`` when the token is set, else loopback clients only.
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from retainful import heartbeat, status
from retainful.config import ConfigError
from retainful.api.errors import error_response
from retainful.database import error_summary
from retainful.extensions import db
from retainful.channels import names as channel_names
from retainful.models import MessageStatus

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "unmatched"  # the endpoint label of requests no route matched: 404s must not add a series per path
FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")
# The text format every Prometheus server reads (newer clients say 1.0.0 for the same text, which older servers
# and some agents do not know).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Process-local metrics. In multiprocess mode prometheus_client keeps their values in files, not in this registry.
_PROCESS = CollectorRegistry(auto_describe=True)
HTTP_REQUESTS = Counter("retainful_http_requests_total", "HTTP requests answered, by endpoint and status.",
                        ["endpoint", "status"], registry=_PROCESS)
HTTP_DURATION = Histogram("retainful_http_request_duration_seconds", "Time to answer an HTTP request.",
                          ["endpoint", "status"], registry=_PROCESS,
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))

bp = Blueprint("metrics", __name__)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


class DatabaseCollector:
    """The metrics the database holds, read at scrape time. A database that fails answers
    ``retainful_metrics_database_up 0`` and nothing else from it, never a failed scrape."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        up = GaugeMetricFamily("retainful_metrics_database_up", "1 if the database answered this scrape's queries.")
        try:
            with self.app.app_context():
                try:
                    families = list(self._families())
                finally:
                    db.session.remove()
        except Exception as error:
            log.warning("metrics: the database did not answer: %s", error_summary(error))
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    @staticmethod
    def _families():
        outbox = GaugeMetricFamily("retainful_outbox_messages", "Messages waiting in the outbox.",
                                   labels=["status", "channel"])
        depth = status.queue_depth()
        for state in MessageStatus.PENDING:
            for channel in sorted(set(channel_names()) | set(depth[state])):
                outbox.add_metric([state, channel], depth[state].get(channel, 0))
        yield outbox
        yield GaugeMetricFamily("retainful_outbox_due_lag_seconds",
                                "Age of the oldest message that is due and not yet claimed (0: nothing waits).",
                                value=status.due_lag_seconds())
        sends = CounterMetricFamily("retainful_sends_total", "Dispatch outcomes recorded, by channel, provider and "
                                    "outcome (sent, failed, retry, skipped, deferred).",
                                    labels=["channel", "provider", "outcome"])
        for labels, count in sorted(status.send_totals().items()):
            sends.add_metric(list(labels), count)
        yield sends
        yield from _job_families(status.job_runs())
        beats = GaugeMetricFamily("retainful_worker_heartbeat_age_seconds",
                                  "Seconds since each worker process seen in the last day recorded a heartbeat.",
                                  labels=["worker"])
        for worker in status.workers():
            beats.add_metric([worker.worker_id], worker.age_seconds)
        yield beats


def _job_families(runs):
    """Job durations and failures summed over the worker processes that ran each job."""
    per_job: dict[str, dict] = {}
    for run in runs:
        job = per_job.setdefault(run.job_id, {"buckets": [0] * (len(heartbeat.JOB_BUCKETS) + 1), "sum": 0.0,
                                              "failures": 0})
        job["buckets"] = [a + b for a, b in zip(job["buckets"], run.buckets)]
        job["sum"] += run.duration_sum
        job["failures"] += run.failures
    durations = HistogramMetricFamily("retainful_job_duration_seconds", "Scheduled job run time.", labels=["job"])
    failures = CounterMetricFamily("retainful_job_failures_total", "Scheduled job runs that raised.", labels=["job"])
    for job_id, job in sorted(per_job.items()):
        cumulative, buckets = 0, []
        for bound, count in zip((*heartbeat.JOB_BUCKETS, float("inf")), job["buckets"]):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        durations.add_metric([job_id], buckets, job["sum"])
        failures.add_metric([job_id], job["failures"])
    yield durations
    yield failures


class _Scrape:
    """The collectors of one scrape, in the shape ``generate_latest`` reads."""

    def __init__(self, *collectors):
        self.collectors = collectors

    def collect(self):
        for collector in self.collectors:
            yield from collector.collect()


def exposition(app: Flask) -> bytes:
    process = MultiProcessCollector(None, multiprocess_dir()) if multiprocess_dir() else _PROCESS
    return generate_latest(_Scrape(process, DatabaseCollector(app)))


def child_exit(server, worker) -> None:
    """gunicorn's ``child_exit`` hook (``child_exit = retainful.metrics.child_exit`` in its config file): a dead
    worker's live gauges leave the multiprocess files."""
    if multiprocess_dir():
        mark_process_dead(worker.pid)


def _endpoint() -> str:
    return request.url_rule.rule if request.url_rule is not None else UNMATCHED


def init_app(app: Flask) -> None:
    """Request metrics for every response, and the /metrics view. A ``PROMETHEUS_MULTIPROC_DIR`` that is not a
    folder stops the start-up here, not every request later."""
    folder = multiprocess_dir()
    if folder and not os.path.isdir(folder):
        raise ConfigError(f"{MULTIPROC_ENV} is {folder!r}, which is not a folder: create it (empty) before starting")

    @app.before_request
    def _started() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _observed(response: Response) -> Response:
        started = g.get("metrics_started")
        if started is not None:
            endpoint, code = _endpoint(), str(response.status_code)
            HTTP_REQUESTS.labels(endpoint, code).inc()
            HTTP_DURATION.labels(endpoint, code).observe(time.perf_counter() - started)
        return response

    app.register_blueprint(bp)


def _loopback_client() -> bool:
    """The client as the app knows it (``TRUSTED_PROXY_COUNT`` hops of X-Forwarded-For) and the TCP peer are both
    loopback. Without trusted proxies a forwarded request is never loopback: a reverse proxy on this host would
    otherwise make every internet client look local."""
    peer = request.environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR", request.remote_addr)
    if not current_app.config["TRUSTED_PROXY_COUNT"] and any(h in request.headers for h in FORWARDING_HEADERS):
        return False
    return all(_is_loopback(address) for address in (request.remote_addr, peer))


def _is_loopback(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback  # a dual-stack socket says ::ffff:127.0.0.1


def _bearer_matches(token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode("utf-8", "replace"),
                                                              token.encode())


@bp.get("/metrics")
def metrics_view():
    token = current_app.config["METRICS_TOKEN"]
    if token and not _bearer_matches(token):
        response, code = error_response(401, "unauthorized", "Send 'Authorization: Bearer <METRICS_TOKEN>'.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response, code
    if not token and not _loopback_client():
        return error_response(403, "forbidden", "Without METRICS_TOKEN, /metrics answers loopback clients only.")
    return Response(exposition(current_app._get_current_object()), content_type=CONTENT_TYPE)
