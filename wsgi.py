"""WSGI entry point for gunicorn: ``gunicorn wsgi:app``. The scheduler runs in ``retainful worker``, not here."""
from retainful import create_app

app = create_app()
