"""Which protocol a registry speaks, and a TLS/HTTP mismatch put in words.

A loopback registry (``localhost``, 127.0.0.0/8, ``::1``) may be a plain-HTTP development
server or a TLS one behind a tunnel or port-forward, so, as go-containerregistry does, the
client tries HTTPS first and falls back to plain HTTP only when the TLS handshake failed in a
way a plain-HTTP server causes. A certificate the machine does not trust is not such a way:
the server spoke TLS, and falling back would downgrade it, so that is reported instead.

When a request fails on a scheme the server does not speak, the failure itself ("wrong version
number", "illegal request line") says little; ``explain`` probes the other protocol once and
says which one the server answered.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import httpx

PROBE_TIMEOUT = 5.0
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what caused it (httpx wraps httpcore, which wraps ssl and socket errors)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _certificate_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    for cause in _chain(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause
    return None


def is_certificate_error(exc: BaseException) -> bool:
    return _certificate_error(exc) is not None


def _is_tls_error(exc: BaseException) -> bool:
    return any(isinstance(cause, ssl.SSLError) for cause in _chain(exc))


def handshake_refused(exc: httpx.TransportError) -> bool:
    """Whether an HTTPS request failed the way a plain-HTTP server makes it fail: a TLS
    protocol error (not a certificate), garbage instead of a response, or a dropped
    connection. A refused connection or a timeout says nothing about the protocol."""
    if isinstance(exc, httpx.TimeoutException) or is_certificate_error(exc):
        return False
    if _is_tls_error(exc) or isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return True
    return any(isinstance(cause, ConnectionResetError) for cause in _chain(exc))


def _mismatch_suspected(exc: httpx.TransportError) -> bool:
    """Whether a plain-HTTP request failed the way a TLS server makes it fail."""
    if isinstance(exc, httpx.TimeoutException):
        return False
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return True
    return any(isinstance(cause, ConnectionResetError) for cause in _chain(exc))


def _host_port(base_url: str) -> tuple[str, int]:
    url = httpx.URL(base_url)
    return url.host, url.port or _DEFAULT_PORTS.get(url.scheme, 443)


def answers_tls(base_url: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether the server of ``base_url`` completes a TLS handshake (certificate unchecked:
    this only asks which protocol it speaks)."""
    host, port = _host_port(base_url)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return True
    except (OSError, ValueError):
        return False


def answers_plain_http(base_url: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether the server of ``base_url`` answers a plain-HTTP ``GET /v2/``."""
    host, port = _host_port(base_url)
    netloc = f"[{host}]" if ":" in host else host
    try:
        with httpx.Client(timeout=timeout) as client:
            client.get(f"http://{netloc}:{port}/v2/")
    except httpx.HTTPError:
        return False
    return True


def reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def explain(exc: httpx.TransportError, base_url: str) -> str:
    """Why a request to ``base_url`` failed, in words, for ``cannot reach <base_url>: ...``."""
    scheme = httpx.URL(base_url).scheme
    host = base_url.partition("://")[2]
    text = reason(exc)
    certificate = _certificate_error(exc) if scheme == "https" else None
    if certificate is not None:
        why = getattr(certificate, "verify_message", None) or reason(certificate)
        return (
            f"its TLS certificate is not trusted ({why}); use --insecure to skip the check, "
            "or point SSL_CERT_FILE at its CA certificate"
        )
    if scheme == "https" and handshake_refused(exc) and answers_plain_http(base_url):
        return f"the registry answered plain HTTP, not TLS; use http://{host}/... or --plain-http"
    if scheme == "http" and _mismatch_suspected(exc) and answers_tls(base_url):
        return (
            f"the registry answered TLS, not plain HTTP; use https://{host}/... "
            "and leave out --plain-http"
        )
    return text
