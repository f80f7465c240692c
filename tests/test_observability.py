"""Observing the service: /metrics, /readyz, JSON logs with request ids, and ``retainful status``, on SQLite and
PostgreSQL."""
from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from prometheus_client.parser import text_string_to_metric_families

from retainful import MIGRATIONS_DIR, carts, clock, create_app, heartbeat, jobs, logs
from retainful.extensions import db
from retainful.messaging.dispatch import Dispatcher, Providers
from retainful.messaging.providers import ProviderError
from retainful.messaging.providers.sandbox import SandboxSmsProvider
from tests.conftest import T0, cart_body, make_app
from tests.test_migrations import empty_database  # noqa: F401 (a fixture: a database of its own)
from tests.test_recovery_sequence import messages, run_jobs, sms_customer

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "m3tr1cs-t0ken-for-tests-only"
EMAIL, PHONE = "sam@example.com", "+12125550123"
PHONE_DIGITS = "2125550123"


def samples(response) -> dict:
    """{(name, sorted labels): value} of a /metrics answer, read by prometheus_client's own parser."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.get_data(as_text=True)) for s in family.samples}


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0)


def scrape(client, **kwargs) -> dict:
    return samples(client.get("/metrics", **kwargs))


# /metrics: format, and the figures moving


def test_request_metrics_move_after_requests(client):
    before = scrape(client)
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    client.get("/no/such/page/alice@example.com")
    after = scrape(client)
    assert value(after, "retainful_http_requests_total", endpoint="/healthz", status="200") - value(
        before, "retainful_http_requests_total", endpoint="/healthz", status="200") == 3
    assert value(after, "retainful_http_request_duration_seconds_count", endpoint="/healthz", status="200") - value(
        before, "retainful_http_request_duration_seconds_count", endpoint="/healthz", status="200") == 3
    assert value(after, "retainful_http_requests_total", endpoint="unmatched", status="404") >= 1
    assert not [key for key in after if "alice" in str(key)]  # a 404's path is not a label
    assert value(after, "retainful_metrics_database_up") == 1


def test_queue_lag_sends_and_jobs_move_after_sends(app, shop, client):
    shop.put_cart("c", cart_body(customer=sms_customer()))
    clock.freeze(T0 + timedelta(minutes=30))
    with app.app_context():
        carts.sweep_abandoned()
    clock.freeze(T0 + timedelta(minutes=40))
    emails = len(messages(app, channel="email"))  # every step is planned; the first is due
    assert emails > 1
    found = scrape(client)
    assert value(found, "retainful_outbox_messages", status="scheduled", channel="email") == emails
    assert value(found, "retainful_outbox_messages", status="scheduled", channel="sms") == 1
    assert value(found, "retainful_outbox_due_lag_seconds") == 600  # the email was due at 30 minutes

    dispatch = next(job for job in jobs.JOBS if job.id == "dispatch")
    jobs.run_job(app, dispatch)  # the email goes; the SMS waits for 08:00 in New York (quiet hours)
    found = scrape(client)
    assert value(found, "retainful_sends_total", channel="email", provider="sandbox", outcome="sent") == 1
    assert value(found, "retainful_sends_total", channel="sms", provider="none", outcome="deferred") == 1
    assert value(found, "retainful_outbox_messages", status="scheduled", channel="email") == emails - 1
    assert value(found, "retainful_outbox_due_lag_seconds") == 0
    assert value(found, "retainful_job_duration_seconds_count", job="dispatch") == 1
    assert value(found, "retainful_job_duration_seconds_bucket", job="dispatch", le="+Inf") == 1
    assert value(found, "retainful_job_failures_total", job="dispatch") == 0
    worker = heartbeat.worker_id()
    assert ("retainful_worker_heartbeat_age_seconds", (("worker", worker),)) in found

    clock.freeze(T0 + timedelta(hours=4))
    run_jobs(app)  # the dispatcher alone: its counts wait in memory for the worker's next heartbeat
    found = scrape(client)
    assert value(found, "retainful_sends_total", channel="sms", provider="sandbox", outcome="sent") == 0
    assert value(found, "retainful_worker_heartbeat_age_seconds", worker=worker) == 4 * 3600 - 40 * 60
    with app.app_context():
        heartbeat.beat()
    found = scrape(client)
    assert value(found, "retainful_sends_total", channel="sms", provider="sandbox", outcome="sent") == 1
    assert value(found, "retainful_worker_heartbeat_age_seconds", worker=worker) == 0


def test_job_failures_are_counted_and_shown(app, runner, client):
    def broken():
        raise RuntimeError("the shop said no to alice@example.com")

    job = jobs.Job("broken", 60, broken, "fails")
    for _ in range(2):
        with pytest.raises(RuntimeError):
            jobs.run_job(app, job)
    found = scrape(client)
    assert value(found, "retainful_job_failures_total", job="broken") == 2
    assert value(found, "retainful_job_duration_seconds_count", job="broken") == 2
    result = runner.invoke(args=["status", "--json"])
    (run,) = [run for run in json.loads(result.output)["jobs"] if run["job"] == "broken"]
    assert run["outcome"] == "failed" and run["error"] == "RuntimeError" and run["failures"] == 2
    assert "alice" not in result.output


def test_workers_gone_for_a_day_are_folded_without_changing_any_total(app, shop, client, runner, monkeypatch):
    shop.put_cart("c", cart_body())
    clock.freeze(T0 + timedelta(minutes=30))
    assert runner.invoke(args=["worker", "--once"]).exit_code == 0  # a cron-style worker: sends the email, exits
    gone = heartbeat.worker_id()
    before = scrape(client)
    assert value(before, "retainful_sends_total", channel="email", provider="sandbox", outcome="sent") == 1

    monkeypatch.setattr(heartbeat, "_identity", None)  # another worker process, two days later
    monkeypatch.delitem(app.extensions, "retainful.pending_runs")
    clock.freeze(T0 + timedelta(days=2))
    fold = next(job for job in jobs.JOBS if job.id == "fold_workers")
    assert jobs.run_job(app, fold) == {"folded": 1}
    assert jobs.run_job(app, fold) == {"folded": 0}  # counted in memory: written with the next heartbeat
    assert value(scrape(client), "retainful_job_duration_seconds_count", job="fold_workers") == 2
    with app.app_context():
        heartbeat.beat()
    after = scrape(client)
    for name, labels in [("retainful_sends_total", {"channel": "email", "provider": "sandbox", "outcome": "sent"}),
                         ("retainful_job_duration_seconds_count", {"job": "dispatch"}),
                         ("retainful_job_duration_seconds_sum", {"job": "dispatch"}),
                         ("retainful_job_duration_seconds_bucket", {"job": "dispatch", "le": "+Inf"}),
                         ("retainful_job_failures_total", {"job": "dispatch"})]:
        assert value(after, name, **labels) == value(before, name, **labels), name
    assert value(after, "retainful_job_duration_seconds_count", job="fold_workers") == 3  # 1 by each worker + 2
    snapshot = json.loads(runner.invoke(args=["status", "--json"]).output)
    assert [w["worker_id"] for w in snapshot["workers"]] == [heartbeat.worker_id()]
    (dispatch,) = [job for job in snapshot["jobs"] if job["job"] == "dispatch"]
    assert dispatch["worker_id"] == heartbeat.RETIRED and dispatch["outcome"] == "ok" and dispatch["runs"] == 1
    with app.app_context():
        from retainful.models import JobRun, SendTally, WorkerHeartbeat
        assert not [row for model in (JobRun, SendTally, WorkerHeartbeat)
                    for row in db.session.scalars(sa.select(model)) if row.worker_id == gone]


def test_database_gauges_are_not_multiplied_by_web_processes(app, tmp_path):
    """Two web processes share PROMETHEUS_MULTIPROC_DIR (as gunicorn's workers do): the request counters add up
    across them, the figures from the database appear once."""
    script = textwrap.dedent("""
        import sys
        from retainful import create_app
        app = create_app({"TESTING": True})
        client = app.test_client()
        for _ in range(int(sys.argv[1])):
            assert client.get("/healthz").status_code == 200
        if sys.argv[2] == "scrape":
            sys.stdout.write(client.get("/metrics").get_data(as_text=True))
    """)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "DATABASE_URL": app.config[
        "SQLALCHEMY_DATABASE_URI"], "PYTHONPATH": str(ROOT)}
    for count, scraping in ((3, "no"), (2, "scrape")):
        done = subprocess.run([sys.executable, "-c", script, str(count), scraping], env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    families = {f.name: f for f in text_string_to_metric_families(done.stdout)}
    healthz = [s for s in families["retainful_http_requests"].samples
               if s.name == "retainful_http_requests_total" and s.labels == {"endpoint": "/healthz", "status": "200"}]
    assert [s.value for s in healthz] == [5]
    outbox = [s for s in families["retainful_outbox_messages"].samples if s.labels == {
        "status": "scheduled", "channel": "email"}]
    assert len(outbox) == 1 and len(families["retainful_outbox_due_lag_seconds"].samples) == 1


# /metrics: who may read it


def test_metrics_token_is_required_when_set(database_url):
    client = make_app(database_url, METRICS_TOKEN=TOKEN).test_client()
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    assert scrape(client, headers={"Authorization": f"Bearer {TOKEN}"}, environ_base=remote)
    assert scrape(client, headers={"Authorization": f"bearer {TOKEN}"})
    for header in (None, "", f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer", "Bearer  ",
                   f"Bearer {'a' * 20000}", f"Bearer {TOKEN}\u00e9", f"Bearer {TOKEN[:5]}\x00{TOKEN[6:]}"):
        overrides = {} if header is None else {"HTTP_AUTHORIZATION": header}
        for environ in ({}, remote):  # loopback does not stand in for the token
            response = client.get("/metrics", environ_overrides=overrides, environ_base=environ)
            assert response.status_code == 401, header
            assert response.get_json()["error"]["code"] == "unauthorized"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert b"retainful_" not in response.data


def _status(client, remote="127.0.0.1", forwarded=None):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return client.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": remote}).status_code


def test_without_a_token_metrics_answers_loopback_clients_only(database_url):
    client = make_app(database_url).test_client()
    assert _status(client) == 200
    assert _status(client, "::1") == 200
    assert _status(client, "::ffff:127.0.0.1") == 200
    assert _status(client, "::ffff:203.0.113.9") == 403
    assert _status(client, "203.0.113.9") == 403
    assert _status(client, "10.0.0.5") == 403
    # Nothing trusted: a reverse proxy on this host forwards an internet client; the app must not see loopback.
    assert _status(client, "127.0.0.1", "203.0.113.9") == 403
    assert _status(client, "127.0.0.1", "127.0.0.1") == 403  # forged or not, a forwarded request is not local
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.get_json()["error"]["code"] == "forbidden"


def test_behind_a_trusted_proxy_the_forwarded_client_decides(database_url):
    client = make_app(database_url, TRUSTED_PROXY_COUNT=1).test_client()
    assert _status(client, "127.0.0.1", "203.0.113.9") == 403  # the real client, through the proxy on this host
    assert _status(client, "127.0.0.1", "127.0.0.1") == 200  # a local scraper through the local proxy
    assert _status(client, "127.0.0.1", "127.0.0.1, 203.0.113.9") == 403  # a forged first hop; the proxy's is real
    assert _status(client, "203.0.113.9", "127.0.0.1") == 403  # forged, straight to the app's port
    assert _status(client, "127.0.0.1", "not-an-address") == 403
    assert _status(client, "127.0.0.1", "127.0.0.1, " + "9" * 20000) == 403
    assert _status(client, "127.0.0.1", "127.0.0.1,\x00") == 403
    assert _status(client, "127.0.0.1", ", ".join(["203.0.113.9"] * 2000)) == 403


# /readyz


def test_readyz_is_ready_once_a_worker_ran_and_until_its_heartbeat_is_stale(app, client, runner):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "checks": {
        "database": "ok", "migrations": "ok", "worker": "no worker has run"}}
    assert runner.invoke(args=["worker", "--once"]).exit_code == 0
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {"database": "ok", "migrations": "ok", "worker": "ok"}}
    clock.freeze(T0 + timedelta(seconds=59))
    assert client.get("/readyz").status_code == 200
    clock.freeze(T0 + timedelta(seconds=61))
    response = client.get("/readyz")
    assert response.status_code == 503 and response.get_json()["checks"]["worker"] == "last heartbeat 61 s ago"
    assert client.get("/healthz").status_code == 200  # liveness knows nothing of workers


def test_the_scheduler_records_a_heartbeat_when_it_starts(app, client):
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = jobs.configure(BackgroundScheduler(), app)
    assert "heartbeat" in {job.id for job in scheduler.get_jobs()}
    assert client.get("/readyz").status_code == 200


def test_readyz_503_when_the_database_is_down(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/missing/dir/db.sqlite3", "TESTING": True})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "checks": {
        "database": "unavailable", "migrations": "unknown", "worker": "unknown"}}
    found = scrape(app.test_client())  # /metrics still answers, and says the database did not
    assert value(found, "retainful_metrics_database_up") == 0


def test_readyz_503_on_an_old_schema(empty_database):  # noqa: F811
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database})
    client = app.test_client()
    assert client.get("/readyz").get_json()["checks"]["migrations"] == "not migrated"
    with app.app_context():
        upgrade()
        heartbeat.beat()
        db.session.remove()
    assert client.get("/readyz").status_code == 200
    with app.app_context():
        downgrade(revision="-1")
        db.session.remove()
    if checks_heartbeats := "0017" == ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head():
        result = app.test_cli_runner().invoke(args=["status"])  # its tables are gone with the downgrade
        assert result.exit_code == 1 and "retainful db upgrade" in result.output and "Traceback" not in result.output
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert checks["database"] == "ok" and checks["migrations"].startswith("at ") and "newest is" in checks["migrations"]
    assert checks["worker"] == ("unknown" if checks_heartbeats else "ok")
    with app.app_context():
        db.engine.dispose()


def test_readyz_and_metrics_refuse_other_methods_as_json(client):
    for path in ("/readyz", "/metrics"):
        response = client.post(path, data=b"\x00" * 1000)
        assert response.status_code == 405 and response.get_json()["error"]["code"]


# Logs: request ids, context ids, JSON, no personal data


@pytest.fixture
def json_log():
    """Every record of the test, as LOG_FORMAT=json writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(old_level)


class _RefusingEmail:
    """A provider whose refusal quotes the address, as real ones do."""

    name = "refusing"

    def send_email(self, email):
        raise ProviderError(f"550 mailbox {email.to_email} unavailable; call {PHONE}", transient=False)


def test_json_logs_carry_request_store_and_message_ids_and_no_personal_data(app, shop, client, json_log):
    response = client.put("/api/v1/carts/c", json=cart_body(customer=sms_customer()), headers={
        **shop.headers, "X-Request-ID": "proxy-id.42"})
    assert response.status_code in (200, 201) and response.headers["X-Request-ID"] == "proxy-id.42"
    bad = shop.put_cart("c", {**cart_body(customer={**sms_customer(), "email": "not-an-email"}), "total": "x"})
    assert bad.status_code == 400
    clock.freeze(T0 + timedelta(minutes=30))
    with app.app_context():
        carts.sweep_abandoned()
    Dispatcher(app, Providers(_RefusingEmail(), SandboxSmsProvider())).run_due()
    email = messages(app, channel="email")[0]
    assert email.status == "failed"

    lines = json_log()
    assert lines and all(isinstance(line, dict) for line in lines)
    for line in lines:
        text = json.dumps(line).lower()
        assert EMAIL not in text and PHONE_DIGITS not in text and "not-an-email" not in text, line
    access = [line for line in lines if line["logger"] == "retainful.access"]
    first, second = access
    assert first["request_id"] == "proxy-id.42" and first["store_id"] == shop.store_id
    assert first["method"] == "PUT" and first["path"] == "/api/v1/carts/<token>" and first["status"] in (200, 201)
    assert second["request_id"] == bad.headers["X-Request-ID"] != "proxy-id.42" and second["status"] == 400
    (failure,) = [line for line in lines if line["message"].startswith(f"message {email.id} failed")]
    assert failure["message_id"] == email.id and "request_id" not in failure and "[email]" in failure["message"]


@pytest.mark.parametrize("offered", ["\x00abc", "a" * 129, "<script>", "id with spaces", "abc\r\nSet-Cookie: x=1",
                                     "\u00e9t\u00e9", "", "../../etc"])
def test_unplain_request_ids_are_replaced_never_echoed(client, offered):
    response = client.get("/readyz", environ_overrides={"HTTP_X_REQUEST_ID": offered})
    rid = response.headers["X-Request-ID"]
    assert rid != offered and len(rid) == 32 and rid.isalnum()


def test_a_huge_header_set_does_not_break_metrics_or_readyz(client):
    headers = {f"X-Junk-{i}": "x" * 4000 for i in range(20)}
    assert client.get("/metrics", headers=headers).status_code == 200
    assert client.get("/readyz", headers={"X-Request-ID": "r" * 100_000, **headers}).status_code in (200, 503)


def test_log_format_json_makes_every_line_json(app, tmp_path):
    script = textwrap.dedent("""
        import logging
        from retainful import create_app
        app = create_app({"TESTING": True})
        response = app.test_client().get("/healthz", headers={"X-Request-ID": "sub-1"})
        logging.getLogger("retainful.test").warning("customer alice@example.com called +12025550199")
        try:
            raise ValueError("bad value bob@example.com")
        except ValueError:
            logging.getLogger("retainful.test").exception("it broke")
    """)
    env = {**os.environ, "LOG_FORMAT": "json", "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert any(line.get("path") == "/healthz" and line["request_id"] == "sub-1" for line in lines)
    assert "alice" not in done.stderr and "2025550199" not in done.stderr and "bob@" not in done.stderr
    (broke,) = [line for line in lines if line["message"] == "it broke"]
    assert "ValueError" in broke["exception"] and "[email]" in broke["exception"]


def test_log_format_is_checked(monkeypatch):
    from retainful import config

    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(config.ConfigError, match="LOG_FORMAT"):
        config.load("/tmp")
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    monkeypatch.setenv("METRICS_TOKEN", "short")
    with pytest.raises(config.ConfigError, match="METRICS_TOKEN"):
        config.load("/tmp")


def test_a_missing_multiprocess_folder_stops_the_start(monkeypatch, tmp_path):
    from retainful import config

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(config.ConfigError, match="PROMETHEUS_MULTIPROC_DIR"):
        create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite3"})


# retainful status


def test_status_shows_queue_lag_workers_and_jobs(app, shop, runner):
    result = runner.invoke(args=["status"])
    assert result.exit_code == 0 and "none has recorded a heartbeat" in result.output
    shop.put_cart("c", cart_body(customer=sms_customer()))
    clock.freeze(T0 + timedelta(minutes=30))
    with app.app_context():
        carts.sweep_abandoned()
    clock.freeze(T0 + timedelta(minutes=31))
    emails = len(messages(app, channel="email"))
    snapshot = json.loads(runner.invoke(args=["status", "--json"]).output)
    assert snapshot["queue"] == {"scheduled": {"email": emails, "sms": 1}, "sending": {}}
    assert snapshot["due_lag_seconds"] == 60 and snapshot["workers"] == [] and snapshot["jobs"] == []

    assert runner.invoke(args=["worker", "--once"]).exit_code == 0
    snapshot = json.loads(runner.invoke(args=["status", "--json"]).output)
    # The first email went; the SMS waits for quiet hours to end.
    assert snapshot["queue"]["scheduled"] == {"email": emails - 1, "sms": 1}
    assert snapshot["due_lag_seconds"] == 0
    (worker,) = snapshot["workers"]
    assert worker["worker_id"] == heartbeat.worker_id() and worker["age_seconds"] == 0
    assert {job["job"] for job in snapshot["jobs"]} == {job.id for job in jobs.JOBS}
    assert all(job["outcome"] == "ok" and job["runs"] == 1 for job in snapshot["jobs"])
    text = runner.invoke(args=["status"]).output
    assert "scheduled:" in text and "sms 1" in text and heartbeat.worker_id() in text and "dispatch" in text
    assert EMAIL not in text and PHONE_DIGITS not in text


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_under_gunicorn_the_workers_counts_add_up_and_survive_a_worker_restart(app, tmp_path):
    """Real gunicorn, two workers, PROMETHEUS_MULTIPROC_DIR and the child_exit hook: every scrape, whichever worker
    answers it, counts all the requests and shows the database's figures once, also after a worker was replaced."""
    import signal
    import time

    import requests

    (tmp_path / "metrics").mkdir()
    config = tmp_path / "gunicorn.conf.py"
    config.write_text("from retainful.metrics import child_exit  # noqa: F401\n")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
           "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", str(config), "-w", "2", "-b",
                               f"127.0.0.1:{port}", "--log-level", "warning", "wsgi:app"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def healthz_total() -> list[float]:
        body = requests.get(f"{base}/metrics", timeout=10).text
        families = {f.name: f for f in text_string_to_metric_families(body)}
        assert len(families["retainful_outbox_due_lag_seconds"].samples) == 1
        return [s.value for s in families["retainful_http_requests"].samples
                if s.name == "retainful_http_requests_total" and s.labels["endpoint"] == "/healthz"]

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{base}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and server.poll() is None, "gunicorn did not start"
                time.sleep(0.2)
        sent, files = 1, tmp_path / "metrics"
        while len(list(files.glob("counter_*.db"))) < 2 or sent < 20:  # until both workers answered some
            assert requests.get(f"{base}/healthz", headers={"Connection": "close"}, timeout=5).status_code == 200
            sent += 1
            assert time.monotonic() < deadline + 60, "one gunicorn worker answered every request"
        assert all(healthz_total() == [sent] for _ in range(4))
        workers = [int(pid) for pid in subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True,
                                                      text=True).stdout.split()]
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGTERM)  # gunicorn starts another; the counts of the one gone stay
        time.sleep(2)
        assert all(healthz_total() == [sent] for _ in range(4))
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_job_run_many_times_a_second_is_written_at_most_every_few_seconds(app, client):
    """The dispatch loop runs a round per wake-up: its runs are summed in memory, written at once only on the first
    run, a failure, JOB_WRITE_SECONDS later, or with the heartbeat, so the rounds cost no database write each."""
    dispatch = next(job for job in jobs.JOBS if job.id == "dispatch")
    for _ in range(5):
        jobs.run_job(app, dispatch)
    assert value(scrape(client), "retainful_job_duration_seconds_count", job="dispatch") == 1
    with app.app_context():
        heartbeat.beat()
    assert value(scrape(client), "retainful_job_duration_seconds_count", job="dispatch") == 5


def test_generated_request_ids_never_read_as_phone_numbers():
    """A hex id's run of digits was once masked as [phone] in the JSON log, so the logged id was not the client's."""
    from retainful import logs

    ids = {logs.request_id(None) for _ in range(2000)}
    assert len(ids) == 2000 and all(logs.mask(rid) == rid and len(rid) == 32 and rid.isalnum() for rid in ids)
