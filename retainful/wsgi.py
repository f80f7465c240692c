"""The WSGI app of an installed service: ``gunicorn -c python:retainful.gunicorn_conf retainful.wsgi:app``.

The scheduler runs in ``retainful worker``, not here. (The source tree's top-level ``wsgi.py`` re-exports this app.)
"""
from retainful import create_app

app = create_app()
