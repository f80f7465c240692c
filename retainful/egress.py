"""The one way to send a request to a shop. The shop URL is the store owner's input: without this guard the service
would fetch any address it can reach (cloud metadata, the database port, the private network) with the shop's keys,
and show what came back (audit F3).

A URL must be https; its host is resolved and every address must be globally routable. The connection goes to a
vetted address itself, so a second DNS answer cannot swap in a private one (rebinding), while Host, TLS SNI and the
certificate check keep the hostname. Redirects are never followed. The whole exchange has one deadline (a watchdog
cuts a reply that trickles) and the reply a size cap. ``ALLOW_PRIVATE_SHOP_URLS`` lets tests and local development
use http and private addresses. Failures are ShopError with a short status line ("timed out", "refused: private
address"): that line, never the reply body, is what callers may store, show or log.
"""
from __future__ import annotations

import http.client
import ipaddress
import json
import os
import socket
import ssl
import threading
import time
from base64 import b64encode
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import certifi
from flask import current_app

from retainful.words import N_

MAX_URL_LENGTH = 500
MAX_REPLY_BYTES = 8 * 1024 * 1024  # a page of 100 WooCommerce orders is well under 1 MB
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known prefix: the last 32 bits are an IPv4 address
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # local-use translation (RFC 8215)


class ShopUrlError(ValueError):
    """A shop URL that may not be used; ``reason`` says why (marked words), for the ``woo_url`` field."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ShopError(Exception):
    """A request to a shop that got no usable reply. ``status`` is the short line to show; ``transient`` says whether
    trying again later may help (a timeout) or not (a refused address)."""

    def __init__(self, status: str, transient: bool):
        super().__init__(status)
        self.status, self.transient = status, transient


@dataclass(frozen=True)
class ShopReply:
    status: int
    headers: http.client.HTTPMessage  # case-insensitive get()
    body: bytes

    def json(self) -> Any:
        """The body as JSON (numbers with a fraction as Decimal), or None when it is not JSON."""
        try:
            return json.loads(self.body, parse_float=Decimal)
        except ValueError:
            return None


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # ASCII (IDNA) hostname or IP literal, without brackets
    port: int
    path: str  # the base path, without a trailing slash


def _allow_private() -> bool:
    return bool(current_app.config.get("ALLOW_PRIVATE_SHOP_URLS"))


def _parse(url: str, allow_private: bool) -> _Target:
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        raise ShopUrlError(N_("at most %(max)s characters", max=MAX_URL_LENGTH))
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ShopUrlError(N_("no spaces or control characters"))
    try:
        parts = urlsplit(url)  # "https://[x/" (an unclosed IPv6 bracket) raises here
        port = parts.port
        host = parts.hostname.encode("idna").decode("ascii") if parts.hostname else ""
    except (ValueError, UnicodeError):
        raise ShopUrlError(N_("the shop's address, e.g. https://shop.example.com")) from None
    if parts.scheme not in ("http", "https") or not host or parts.query or parts.fragment or "@" in parts.netloc:
        raise ShopUrlError(N_("the shop's address, e.g. https://shop.example.com"))
    if parts.scheme == "http" and not allow_private:
        raise ShopUrlError(N_("must use https (the API keys are sent with every request)"))
    path = quote(parts.path.rstrip("/"), safe="/%:@!$&'()*+,;=~")  # a non-ASCII path as the request line needs it
    return _Target(parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path)


def resolve(host: str, port: int) -> list[IPAddress]:
    """The host's addresses, in the resolver's order; empty when it does not resolve. Tests replace this function, so
    no lookup leaves the machine."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast. An IPv6 address that carries an IPv4 one (mapped, NAT64, 6to4, Teredo) is judged by
    that IPv4 address too."""
    if address.version == 6:
        if address.ipv4_mapped or address in _NAT64:  # the IPv4 address is the one reached
            return is_public(address.ipv4_mapped or ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        embedded = address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None and not is_public(embedded) or address.is_site_local or address in _NAT64_LOCAL:
            return False
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)


def _vetted(target: _Target, allow_private: bool) -> list[IPAddress]:
    addresses = resolve(target.host, target.port)
    if not addresses:
        raise ShopError("host does not resolve", transient=True)
    if not allow_private and not all(is_public(address) for address in addresses):
        raise ShopError("refused: private address", transient=False)
    return addresses


def check_shop_url(url: str) -> str:
    """The save-time check of a shop URL (admin and CLI): the URL without a trailing slash, or ShopUrlError."""
    url = url.strip().rstrip("/") if isinstance(url, str) else ""
    allow_private = _allow_private()
    target = _parse(url, allow_private)
    if not allow_private:  # the opt-in accepts any address, so a host that is not up yet need not resolve
        try:
            _vetted(target, allow_private)
        except ShopError as error:
            raise ShopUrlError(N_("the host does not resolve") if error.transient else N_(
                "refused: the host has a private, loopback or reserved address (only public shops are reached)")) \
                from None
    return url


class _Watchdog:
    """One deadline for the whole exchange: when it passes, the connection is shut down, which ends any read that a
    trickling shop keeps alive (a socket timeout only bounds the wait for each next byte)."""

    def __init__(self, seconds: float):
        # A duration, not a moment: time.monotonic, as clock.now() may be frozen.
        self.until = time.monotonic() + seconds
        self.expired = False
        self._socket: socket.socket | None = None
        self._timer: threading.Timer | None = None

    def remaining(self) -> float:
        left = self.until - time.monotonic()
        if left <= 0:
            self.expired = True
            raise ShopError("timed out", transient=True)
        return left

    def watch(self, sock: socket.socket) -> None:
        self._socket = sock.dup()  # the same connection: shutting it down ends reads on the TLS-wrapped socket too
        self._timer = threading.Timer(self.remaining(), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        self.expired = True
        try:
            self._socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._socket is not None:
            self._socket.close()


def _tls_context() -> ssl.SSLContext:
    """Certificates checked like every other outbound call (requests): certifi, or ``REQUESTS_CA_BUNDLE``."""
    return ssl.create_default_context(cafile=os.environ.get("REQUESTS_CA_BUNDLE") or certifi.where())


def _connection(target: _Target, addresses: list[IPAddress], watchdog: _Watchdog) -> http.client.HTTPConnection:
    """A connection to the shop's hostname whose socket goes to the vetted addresses only (tried in order)."""
    if target.scheme == "https":
        conn = http.client.HTTPSConnection(target.host, target.port, context=_tls_context())
    else:
        conn = http.client.HTTPConnection(target.host, target.port)

    def connect(_address, _timeout, _source=None):
        error: OSError | None = None
        for address in addresses:
            try:
                sock = socket.create_connection((str(address), target.port), timeout=watchdog.remaining())
            except OSError as failure:
                error = failure
                continue
            watchdog.watch(sock)
            return sock
        raise error

    conn._create_connection = connect  # http.client's own hook; TLS then wraps with server_hostname=target.host
    return conn


def _failure(error: BaseException, watchdog: _Watchdog) -> ShopError:
    if watchdog.expired or isinstance(error, TimeoutError):
        return ShopError("timed out", transient=True)
    if isinstance(error, ShopError):
        return error
    if isinstance(error, ConnectionRefusedError):
        return ShopError("connection refused", transient=True)
    if isinstance(error, ssl.SSLCertVerificationError):
        return ShopError("TLS certificate not valid for the host", transient=True)
    if isinstance(error, ssl.SSLError):
        return ShopError("TLS error", transient=True)
    if isinstance(error, http.client.HTTPException):
        return ShopError("not an HTTP reply", transient=True)
    return ShopError("connection failed", transient=True)


def _read(response: http.client.HTTPResponse, max_bytes: int) -> bytes:
    declared = response.getheader("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ShopError("reply too large", transient=False)
    chunks, size = [], 0
    while chunk := response.read1(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise ShopError("reply too large", transient=False)
        chunks.append(chunk)
    return b"".join(chunks)


def request(method: str, base_url: str, path: str, *, auth: tuple[str, str] | None = None, params: dict | None = None,
            json_body: Any = None, body: bytes | None = None, headers: dict[str, str] | None = None,
            timeout: float = 10.0, max_bytes: int = MAX_REPLY_BYTES) -> ShopReply:
    """``method`` ``base_url + path`` with HTTP Basic ``auth`` (if any), within ``timeout`` seconds in all. Any status comes
    back as a ShopReply (a redirect too: it is not followed); no reply at all raises ShopError. ``body`` is sent as
    JSON bytes exactly as given (a signed webhook), ``headers`` are added to the request's own."""
    allow_private = _allow_private()
    try:
        target = _parse(base_url, allow_private)
    except ShopUrlError:
        raise ShopError("refused: not a valid https shop URL", transient=False) from None
    watchdog = _Watchdog(timeout)
    addresses = _vetted(target, allow_private)
    headers = {"Accept": "application/json", "User-Agent": "Retainful", **(headers or {})}
    if auth is not None:  # the Retainful plugin's endpoints authenticate by a digest in the request instead
        headers["Authorization"] = "Basic " + b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    if json_body is not None:
        body = json.dumps(json_body).encode()
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn = _connection(target, addresses, watchdog)
    try:
        conn.request(method, (target.path + path or "/") + (f"?{urlencode(params)}" if params else ""), body, headers)
        response = conn.getresponse()
        reply = ShopReply(response.status, response.headers, _read(response, max_bytes))
        if watchdog.expired:  # the watchdog's shutdown can look like the end of the body
            raise ShopError("timed out", transient=True)
        return reply
    except (OSError, http.client.HTTPException, ShopError) as error:
        raise _failure(error, watchdog) from None
    finally:
        conn.close()
        watchdog.close()
