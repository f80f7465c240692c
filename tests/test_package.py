"""The built package is the whole service (issue #17): the wheel, built from the Docker build context and installed
into a fresh virtualenv by the same script the Dockerfile runs (deploy/install.sh), migrates, creates a store, serves
under gunicorn and renders every default template from an empty folder, with no source tree on the path.

The virtualenv's dependencies come from pip's cache (or the package index on a cold cache); nothing else is reached.
"""
from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
# Each folder of the tree, and where its files are in the installed package (setup.py's FOLDERS).
INSTALLED_AS = {"retainful": "retainful", "admin": "retainful_admin",
                "email_templates": "retainful/email_templates", "sms_templates": "retainful/sms_templates"}
DEFAULT_TEMPLATES = {"email": ("email_templates", ".html"), "sms": ("sms_templates", ".txt")}


def _clean_env(**settings) -> dict:
    """The machine's environment without anything that points at the source tree or this test run's settings."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("PYTHONPATH", "DATABASE_URL", "VIRTUAL_ENV") and not name.startswith(
               ("RETAINFUL_", "EMAIL_", "SMS_", "SENDGRID_", "VONAGE_", "GUNICORN_", "WEB_CONCURRENCY"))}
    env.update(settings)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """deploy/install.sh's virtualenv (the wheel is in its wheels/), and what the install printed."""
    if subprocess.run([sys.executable, "-m", "ensurepip", "--version"], capture_output=True).returncode != 0:
        pytest.skip("this Python cannot make virtualenvs with pip (ensurepip is missing)")
    work = tmp_path_factory.mktemp("package")
    context, target = _docker_context(work / "context"), work / "venv"
    done = subprocess.run(["sh", str(context / "deploy" / "install.sh"), str(context), str(target), sys.executable],
                          env=_clean_env(), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = (target / "wheels").glob("retainful-*.whl")
    return target, wheel, done.stdout + done.stderr


def _docker_context(into: Path) -> Path:
    """The tree as ``docker build`` sends it: without what .dockerignore names (its patterns as this repository
    writes them: a name at the top, or ``**/`` for any depth)."""
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]

    def ignored(relative: str) -> bool:
        return any(fnmatch.fnmatch(relative, p) or (p.startswith("**/") and fnmatch.fnmatch(
            relative.rsplit("/", 1)[-1], p[3:])) for p in patterns)

    for folder, folders, files in os.walk(ROOT):
        base = "" if Path(folder) == ROOT else Path(folder).relative_to(ROOT).as_posix()
        folders[:] = [name for name in folders if not ignored(f"{base}/{name}".lstrip("/"))]  # never walks .venv
        for name in files:
            relative = f"{base}/{name}".lstrip("/")
            if not ignored(relative):
                (into / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / relative, into / relative)
    return into


def _tree_files() -> set[str]:
    """Every file of the four package folders, by its path in the wheel."""
    files = set()
    for folder, installed_as in INSTALLED_AS.items():
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files.add(f"{installed_as}/{path.relative_to(ROOT / folder).as_posix()}")
    return files


def test_the_wheel_holds_every_file_of_the_package_folders_and_no_generic_top_level_name(installed):
    _, wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    assert not _tree_files() - names, "files of the tree missing from the wheel"
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"retainful", "retainful_admin"}  # no `admin`, no `wsgi`, no `tests`
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert re.search(r"^Requires-Dist: gunicorn", metadata, re.M), "gunicorn is a runtime dependency"


def test_building_and_installing_prints_no_setuptools_warnings(installed):
    _, _, output = installed
    assert not [line for line in output.splitlines() if re.search(r"setuptools|warning: |!!", line, re.I)
                and not re.match(r"WARNING: Location '.*' is ignored", line)], output  # (the machine's pip config)


def test_the_installed_service_runs_from_an_empty_folder(installed, tmp_path):
    target, _, _ = installed
    bin_dir = target / "bin"
    here = tmp_path / "empty"
    here.mkdir()
    port = _free_port()
    env = _clean_env(RETAINFUL_ENV="production", SECRET_KEY="k" * 48, DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
                     RETAINFUL_INSTANCE_PATH=str(tmp_path / "instance"), PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
                     GUNICORN_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="2",
                     PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    def run(*args):
        done = subprocess.run(args, cwd=here, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    where = run(str(bin_dir / "python"), "-c", "import retainful, retainful_admin, importlib.util as u; "
                "print(retainful.__file__, retainful_admin.__file__, u.find_spec('admin'), u.find_spec('wsgi'))")
    (site,) = (target / "lib").glob("python3*/site-packages")
    assert where.split() == [str(site / "retainful/__init__.py"), str(site / "retainful_admin/__init__.py"),
                             "None", "None"]  # the installed copies; no `admin` or `wsgi` to import
    run(str(bin_dir / "retainful"), "db", "upgrade")
    store = json.loads(run(str(bin_dir / "retainful"), "create-store", "--name", "Acme Mugs", "--domain",
                           "acme.example", "--json"))
    web = subprocess.Popen([str(bin_dir / "gunicorn"), "-c", "python:retainful.gunicorn_conf", "retainful.wsgi:app"],
                           cwd=here, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, web)
        headers = {"Authorization": f"Bearer {store['api_key']}"}
        listed = requests.get(f"{base}/api/v1/templates", headers=headers, timeout=10)
        assert listed.status_code == 200, listed.text
        templates = {(t["channel"], t["key"]) for t in listed.json()["templates"]}
        assert templates == _default_templates()
        for channel, key in sorted(templates):
            preview = requests.post(f"{base}/api/v1/templates/preview", headers=headers, timeout=10,
                                    json={"channel": channel, "template": key})
            assert preview.status_code == 200, (channel, key, preview.text)
            body = preview.json()
            assert body["text"].strip(), (channel, key)
            if channel == "email":
                assert body["subject"].strip() and "<html" in body["html"].lower(), key
        login = requests.get(f"{base}/admin/login", timeout=10)
        assert login.status_code == 200 and "password" in login.text.lower()  # the admin's templates
        assert requests.get(f"{base}/admin/assets/admin.css", timeout=10).status_code == 200  # and static files
    finally:
        web.send_signal(signal.SIGTERM)
        log = web.communicate(timeout=60)[0]
    assert web.returncode == 0, log


def _default_templates() -> set[tuple[str, str]]:
    """The tree's default templates (partials and the layout are not templates of their own)."""
    found = set()
    for channel, (folder, suffix) in DEFAULT_TEMPLATES.items():
        for path in (ROOT / folder).rglob(f"*{suffix}"):
            if not path.name.startswith(("_", "layout")):
                found.add((channel, path.relative_to(ROOT / folder).as_posix()[: -len(suffix)]))
    assert len(found) >= 12
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_healthy(base: str, web: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert web.poll() is None, web.stdout.read()
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or its workers still booting
            pass
        time.sleep(0.3)
    raise AssertionError("gunicorn did not answer /healthz within 60 s")
