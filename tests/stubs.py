"""Local stand-ins for the SendGrid and Vonage HTTP APIs, for tests and benchmarks.

``ProviderStub`` is a real HTTP(S) server on 127.0.0.1 (a free port) that the real SDKs talk to:

* ``POST /v3/mail/send`` (SendGrid) answers 202, an empty body and an ``X-Message-Id`` header;
* ``POST /sms/json`` (Vonage, form-encoded) answers 200 with the SMS API's JSON (``message-count`` is a string);
* ``stub.queue.append((status, headers, body))`` scripts answers, consumed first-in-first-out before the defaults;
* ``stub.requests`` lists what arrived (method, path, headers, raw body, parsed JSON or form), thread-safe;
* ``delay`` (seconds) is slept before every answer, e.g. 0.1 to model a provider's latency in a benchmark.

The Vonage SDK only speaks https, so its stub needs ``tls_cert``/``tls_key`` (see :func:`make_tls_cert`) and the
client must trust the cert: ``REQUESTS_CA_BUNDLE=<cert>`` (which overrides ``Session.verify``).
"""
from __future__ import annotations

import collections
import datetime
import ipaddress
import itertools
import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from requests.structures import CaseInsensitiveDict

__all__ = ["ProviderStub", "RecordedRequest", "make_tls_cert"]


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the query string
    query: str
    headers: CaseInsensitiveDict  # case-insensitive: urllib sends "Content-type", requests "Content-Type"
    body: bytes
    json: Any = None  # the parsed body when it is JSON
    form: dict[str, str] | None = None  # the parsed body when it is form-encoded (last value wins)
    response_status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 stalls concurrent clients for a 1 s SYN retry
    ssl_context: ssl.SSLContext | None = None

    def get_request(self):
        sock, addr = super().get_request()
        if self.ssl_context is not None:  # handshake later, in the request's own thread, not in the accept loop
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):  # clients hanging up, failed TLS handshakes: not news
        with self.stub._lock:
            self.stub.errors += 1


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 30
    server_version = "ProviderStub/1"

    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            self.request.do_handshake()
        super().setup()

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    def do_POST(self):
        self.server.stub._handle(self)

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST


class ProviderStub:
    """A threaded HTTP(S) server on 127.0.0.1 that records requests and answers like SendGrid / Vonage."""

    def __init__(self, *, tls_cert: str | None = None, tls_key: str | None = None, delay: float = 0.0):
        self.delay = delay
        self.tls_cert, self.tls_key = tls_cert, tls_key
        self.queue: collections.deque[tuple[int, dict, bytes]] = collections.deque()
        self.errors = 0
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.stub = self
        if tls_cert:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls_cert, tls_key)
            self._server.ssl_context = context
        self.port: int = self._server.server_address[1]
        self.host_port = f"127.0.0.1:{self.port}"
        self.base_url = f"{'https' if tls_cert else 'http'}://{self.host_port}"
        self._thread: threading.Thread | None = None
        self._closed = False

    # lifecycle -------------------------------------------------------------------------------------------------
    def start(self) -> "ProviderStub":
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"provider-stub-{self.port}", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port (later connections are refused)."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()

    def __enter__(self) -> "ProviderStub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # what arrived ----------------------------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def last(self) -> RecordedRequest:
        with self._lock:
            return self._requests[-1]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    # answering -------------------------------------------------------------------------------------------------
    def _handle(self, handler: _Handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        url = urlsplit(handler.path)
        headers = CaseInsensitiveDict(handler.headers.items())
        record = RecordedRequest(handler.command, url.path, url.query, headers, body)
        content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type == "application/x-www-form-urlencoded":
            record.form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        elif body:
            try:
                record.json = json.loads(body)
            except ValueError:
                pass
        try:
            status, answer_headers, answer_body = self.queue.popleft()
        except IndexError:
            status, answer_headers, answer_body = self._default_answer(record)
        if isinstance(answer_body, (dict, list)):
            answer_body = json.dumps(answer_body).encode()
            answer_headers = {"Content-Type": "application/json", **answer_headers}
        elif isinstance(answer_body, str):
            answer_body = answer_body.encode()
        answer_body = answer_body or b""
        record.response_status, record.response_headers, record.response_body = status, dict(answer_headers), \
            answer_body
        with self._lock:
            self._requests.append(record)
        if self.delay:
            time.sleep(self.delay)
        handler.send_response(status)
        for name, value in answer_headers.items():
            handler.send_header(name, str(value))
        handler.send_header("Content-Length", str(len(answer_body)))
        handler.end_headers()
        if answer_body:
            handler.wfile.write(answer_body)

    def _default_answer(self, record: RecordedRequest) -> tuple[int, dict, bytes]:
        n = next(self._ids)
        if record.method == "POST" and record.path == "/v3/mail/send":
            return 202, {"X-Message-Id": f"sg-stub-{n:08d}"}, b""
        if record.method == "POST" and record.path == "/sms/json":
            form = record.form or {}
            message = {"to": form.get("to", ""), "message-id": f"vonage-stub-{n:08d}", "status": "0",
                       "remaining-balance": "10.0", "message-price": "0.03", "network": "12345"}
            if "client-ref" in form:
                message["client-ref"] = form["client-ref"]
            return 200, {"Content-Type": "application/json"}, \
                json.dumps({"message-count": "1", "messages": [message]}).encode()
        return 404, {"Content-Type": "application/json"}, json.dumps({"error": "no such stub route"}).encode()


def make_tls_cert(dirpath) -> tuple[str, str]:
    """A self-signed EC certificate for 127.0.0.1 and localhost, written as (cert.pem, key.pem) in ``dirpath``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)  # the real clock: TLS checks validity against it
    public_key = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory = Path(dirpath)
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return str(cert_path), str(key_path)
