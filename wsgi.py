"""The source tree's WSGI entry point (``gunicorn wsgi:app``); an installed service uses ``retainful.wsgi:app``."""
from retainful.wsgi import app  # noqa: F401
