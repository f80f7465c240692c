"""Fixtures serving the provider stubs (tests/stubs.py). conftest.py star-imports them; a test module may import
them by name instead: ``from tests.provider_fixtures import sendgrid_stub, vonage_stub  # noqa: F401``."""
from __future__ import annotations

import pytest

from tests.stubs import ProviderStub, make_tls_cert

__all__ = ["sendgrid_stub", "vonage_stub"]


@pytest.fixture
def sendgrid_stub():
    """A plain-http SendGrid stand-in; point SendGrid at ``sendgrid_stub.base_url`` (SENDGRID_API_HOST)."""
    with ProviderStub() as stub:
        yield stub


@pytest.fixture
def vonage_stub(tmp_path, monkeypatch):
    """An https Vonage stand-in (the SDK only speaks https); point it at ``vonage_stub.host_port`` (VONAGE_REST_HOST).

    Its self-signed cert is trusted via REQUESTS_CA_BUNDLE: this machine sets that variable globally, and requests
    lets it override ``Session.verify``, so setting the variable is the way that works without private attributes.
    """
    cert, key = make_tls_cert(tmp_path / "provider-tls")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", cert)
    with ProviderStub(tls_cert=cert, tls_key=key) as stub:
        yield stub
