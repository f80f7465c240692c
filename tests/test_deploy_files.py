"""The deployment files, checked as far as this machine's tools allow (there is no container runtime here): the
compose file parses and wires the services as README says, the Dockerfile installs with deploy/install.sh (which
tests/test_package.py runs for real), the systemd units pass ``systemd-analyze verify``, nginx's example passes
``nginx -t`` where nginx is installed, and gunicorn's settings come from the environment."""
from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from retainful.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
GUNICORN = ["gunicorn", "-c", "python:retainful.gunicorn_conf", "retainful.wsgi:app"]


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_runs_postgresql_the_migrations_the_web_and_two_workers(compose):
    services = compose["services"]
    db = services["db"]
    assert db["image"] == "postgres:16" and "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert db["volumes"][0].split(":")[0] in compose["volumes"]  # a named volume keeps the data
    assert services["migrate"]["command"] == ["retainful", "db", "upgrade"]
    assert services["web"]["command"] == GUNICORN
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    assert services["worker"]["command"] == ["retainful", "worker"] and services["worker"]["deploy"]["replicas"] == 2
    for name in ("web", "worker"):
        service = services[name]
        assert service["build"] == "." and service["env_file"] == ".env"
        assert service["depends_on"] == {"db": {"condition": "service_healthy"},
                                         "migrate": {"condition": "service_completed_successfully"}}
        assert service["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://retainful:")
    assert services["web"]["ports"] == ["127.0.0.1:8000:8000"]  # the TLS proxy is the public door


def test_the_example_env_file_names_every_setting_compose_needs_and_only_documented_ones(compose):
    example = dict(line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    needed = set(re.findall(r"\$\{(\w+)", (ROOT / "compose.yaml").read_text()))
    assert needed <= set(example)
    documented = set(re.findall(r"^\| `(\w+)`", (ROOT / "README.md").read_text(), re.M))
    documented |= {name for row in re.findall(r"^\| (`\w+`(?:, `\w+`)+) \|", (ROOT / "README.md").read_text(), re.M)
                   for name in re.findall(r"`(\w+)`", row)}
    assert set(example) - {"POSTGRES_PASSWORD"} <= documented, set(example) - documented
    assert example["SECRET_KEY"] == "" and example["POSTGRES_PASSWORD"] == ""  # no secret ships in the example


def test_the_dockerfile_is_multi_stage_slim_non_root_and_installs_with_the_tested_script():
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    stages = [line for line in lines if line.startswith("FROM ")]
    assert stages == ["FROM python:3.11-slim AS build", "FROM python:3.11-slim"]
    build = lines[:lines.index(stages[1])]
    assert any(re.match(r"RUN deploy/install\.sh /src /opt/retainful\b", line) for line in build)
    run = lines[lines.index(stages[1]):]
    assert "COPY --from=build /opt/retainful /opt/retainful" in run
    (user,) = [line.split()[1] for line in run if line.startswith("USER ")]
    assert user.split(":")[0] not in ("root", "0")
    assert run[-1] == "CMD " + str(GUNICORN).replace("'", '"')


def test_the_docker_build_context_keeps_what_the_install_needs():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".venv", ".git", "build", ".env"} <= ignored
    needed = {"README.md", "setup.py", "setup.cfg", "pyproject.toml", "deploy", "retainful", "admin",
              "email_templates", "sms_templates"}
    assert not needed & ignored


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_units_verify_and_start_the_installed_commands(tmp_path):
    """``/opt/retainful`` is this test run's virtualenv, so the commands the units start must exist in an install."""
    units = sorted(DEPLOY.glob("*.service"))
    assert {unit.name for unit in units} == {"retainful-migrate.service", "retainful-web.service",
                                             "retainful-worker@.service"}
    for unit in units:
        text = unit.read_text()
        assert "User=retainful" in text and "EnvironmentFile=/etc/retainful/retainful.env" in text
        (tmp_path / unit.name).write_text(text.replace("/opt/retainful/", f"{sys.prefix}/"))
    assert "ExecStart=/opt/retainful/bin/" + " ".join(GUNICORN) in (DEPLOY / "retainful-web.service").read_text()
    assert "ExecStart=/opt/retainful/bin/retainful worker" in (DEPLOY / "retainful-worker@.service").read_text()
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", *[str(tmp_path / u.name) for u in units]],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_the_nginx_example_passes_nginx_t(tmp_path):
    from tests.stubs import make_tls_cert

    cert, key = make_tls_cert(tmp_path / "tls")
    site = (DEPLOY / "nginx.conf").read_text()
    site = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", site)
    site = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", site)
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(f"pid {tmp_path}/nginx.pid; error_log stderr; events {{}} http {{ "
                                         f"access_log off; include {tmp_path}/site.conf; }}")
    done = subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_the_reverse_proxy_and_the_units_point_at_gunicorns_address():
    assert "server 127.0.0.1:8000;" in (DEPLOY / "nginx.conf").read_text()
    assert "GUNICORN_BIND=127.0.0.1:8000" in (DEPLOY / "retainful-web.service").read_text()


def gunicorn_settings(monkeypatch, **env):
    for name in ("GUNICORN_BIND", "PORT", "WEB_CONCURRENCY", "GUNICORN_TIMEOUT", "FORWARDED_ALLOW_IPS",
                 "PROMETHEUS_MULTIPROC_DIR"):
        # Set, then deleted: monkeypatch then restores the variable as it was, even one the module sets itself (the
        # conf sets PROMETHEUS_MULTIPROC_DIR, which would put every later app of this process in multiprocess mode).
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    import retainful.gunicorn_conf

    return importlib.reload(retainful.gunicorn_conf)


def test_gunicorn_binds_loopback_by_default_port_on_every_interface_or_what_gunicorn_bind_says(monkeypatch):
    assert gunicorn_settings(monkeypatch).bind == ["127.0.0.1:8000"]
    assert gunicorn_settings(monkeypatch, PORT="9000").bind == ["0.0.0.0:9000"]
    assert gunicorn_settings(monkeypatch, PORT="9000", GUNICORN_BIND="unix:/run/r.sock, [::1]:8001").bind == [
        "unix:/run/r.sock", "[::1]:8001"]


def test_gunicorn_gets_a_fresh_metrics_folder_unless_one_is_given(monkeypatch, tmp_path):
    gunicorn_settings(monkeypatch)
    made = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert made.is_dir() and not any(made.iterdir())
    gunicorn_settings(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path)


def test_gunicorn_workers_and_timeouts_come_from_the_environment(monkeypatch):
    conf = gunicorn_settings(monkeypatch, WEB_CONCURRENCY="2", GUNICORN_TIMEOUT="45")
    assert (conf.workers, conf.timeout, conf.graceful_timeout) == (2, 45, 45)
    assert gunicorn_settings(monkeypatch).workers >= 3  # 2 per core + 1
    with pytest.raises(ConfigError, match="WEB_CONCURRENCY must be a whole number"):
        gunicorn_settings(monkeypatch, WEB_CONCURRENCY="many")
    with pytest.raises(ConfigError, match="PORT must be between 1 and 65535"):
        gunicorn_settings(monkeypatch, PORT="70000")


def test_no_code_imports_the_admin_folder_by_its_tree_name():
    """In the tree ``import admin`` works (pytest puts the top level on the path), but an installed service has only
    ``retainful_admin``: such an import would pass every test here and break the wheel."""
    offenders = [f"{path.relative_to(ROOT)}:{number}" for folder in ("retainful", "admin", "tests", "bench")
                 for path in (ROOT / folder).rglob("*.py")
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if re.match(r"\s*(from|import)\s+admin\b", line)]
    assert not offenders, "import retainful_admin instead: " + ", ".join(offenders)
