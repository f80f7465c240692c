#!/bin/sh
# Build the wheel from a source tree and install it into a new virtualenv: the production install.
# The Dockerfile's build stage runs this, and so does tests/test_package.py (in `make test`), so CI exercises the
# image's install commands without a container runtime.
#
# usage: deploy/install.sh SOURCE_DIR VENV_DIR [PYTHON]
# The wheel is built from a copy of the tree without its build artefacts (setuptools would otherwise pack stale
# files left in build/), and left in VENV_DIR/wheels/.
set -eu

source_dir=$(cd "$1" && pwd)
venv=$2
python=${3:-python3}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -C "$source_dir" --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./dist \
    --exclude='*.egg-info' --exclude='__pycache__' --exclude=./instance -cf - . | tar -C "$work" -xf -

"$python" -m venv "$venv"
"$venv/bin/python" -m pip wheel --quiet --no-deps --wheel-dir "$venv/wheels" "$work"
"$venv/bin/python" -m pip install --quiet "$venv"/wheels/retainful-*.whl
# The packages and the web server import (without making an app, which would write a secret key into the venv).
"$venv/bin/python" -c "import retainful.cli, retainful_admin, gunicorn"
