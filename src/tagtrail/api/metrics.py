"""``/metrics`` (Prometheus text format) and the middleware that measures every request.

The middleware is plain ASGI: it wraps ``receive`` and ``send`` to count body bytes and see
the status, then counts the request, observes its duration and writes the access log line
(api/access_log.py). Starlette's BaseHTTPMiddleware would put every manifest GET through a
task and a stream of its own; the registry's hot path skips Starlette for that reason
(api/app.py), so this one must not bring the cost back. Metric children are looked up once
per (route class, method, status) and kept: ``labels()`` takes a lock and validates.

``/metrics`` answers callers from the networks of ``metrics_allow`` (loopback by default);
anyone else gets the 404 of an unknown path, from the app itself. A request that came through
a proxy (``Forwarded``, ``X-Forwarded-For``, ``X-Real-IP``) counts as from every address it
names: a proxy on the same host does not open the metrics to the proxy's callers.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable
from typing import Any

import anyio.to_thread
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tagtrail import metrics
from tagtrail.api import access_log

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_UI_PREFIXES = ("/repo/", "/static/")
_UI_PATHS = frozenset({"/", "/login", "/logout"})
_FORWARDING = (b"forwarded", b"x-forwarded-for", b"x-real-ip")


def route_class(path: str) -> str:
    """manifest, blob, upload, history, token, ui or other, read from the path's last
    segments as api/routing.py reads them (a repository name may hold any of these words)."""
    if path.startswith("/v2/"):
        parts = path.rsplit("/", 3)
        if parts[-3:-1] == ["blobs", "uploads"]:
            return "upload"
        if len(parts) >= 2 and parts[-2] == "blobs":
            return "blob"
        if len(parts) >= 2 and parts[-2] == "manifests":
            return "manifest"
        if parts[-3:-1] in (["_chainguard", "history"], ["_oci", "tag-history"]):
            return "history"
        return "other"
    if path == "/token":
        return "token"
    if path in _UI_PATHS or path.startswith(_UI_PREFIXES):
        return "ui"
    return "other"


def exposition() -> bytes:
    """The metrics in Prometheus' text format: summed over every worker's files when the
    server runs in multiprocess mode (metrics.py), else this process's own."""
    directory = metrics.multiprocess_dir()
    if directory is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def _addresses(scope: Scope) -> list[str] | None:
    """The peer's address and every one a forwarding header names; None when a header
    cannot be read (then nobody is trusted)."""
    client = scope.get("client")
    if not client:
        return None
    found = [str(client[0])]
    for key, value in scope["headers"]:
        if key not in _FORWARDING:
            continue
        text = value.decode("latin-1")
        for part in text.replace(";", ",").split(","):
            item = part.strip()
            if key == b"forwarded":
                name, _, item = item.partition("=")
                if name.strip().lower() != "for":
                    continue
                item = item.strip().strip('"')
                if item.startswith("["):  # [v6]:port
                    item = item[1:].partition("]")[0]
                elif item.count(":") == 1:  # v4:port
                    item = item.partition(":")[0]
            if item:
                found.append(item)
    return found


def allowed(scope: Scope, networks: Iterable[Network]) -> bool:
    """Whether the caller of ``scope`` may read the metrics."""
    addresses = _addresses(scope)
    if addresses is None:
        return False
    nets = list(networks)
    for text in addresses:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return False
        if not any(address in network for network in nets):
            return False
    return True


class Observed:
    """The app, measured: request metrics, the access log, ``X-Request-Id``, ``/metrics``."""

    def __init__(self, app: ASGIApp, metrics_allow: Iterable[str]) -> None:
        self.app = app
        self._networks = [ipaddress.ip_network(n, strict=False) for n in metrics_allow]
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any, Any]] = {}
        if directory := metrics.multiprocess_dir():
            metrics.forget_dead_workers(directory)

    def _metrics_of(self, route: str, method: str, status: int) -> tuple[Any, Any, Any, Any]:
        key = (route, method, status)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = (
                metrics.REQUESTS.labels(route, method, str(status)),
                metrics.REQUEST_SECONDS.labels(route, method),
                metrics.RESPONSE_BYTES.labels(route),
                metrics.REQUEST_BYTES.labels(route),
            )
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = access_log.request_id()
        path: str = scope["path"]
        route = route_class(path)
        status = 500  # an app that fails before answering: the server answers 500
        bytes_in = bytes_out = 0
        headers: list[tuple[bytes, bytes]] = []
        head = scope["method"] == "HEAD"

        async def counted_receive() -> Message:
            nonlocal bytes_in
            message = await receive()
            if message["type"] == "http.request":
                bytes_in += len(message.get("body", b""))
            return message

        async def counted_send(message: Message) -> None:
            nonlocal status, bytes_out, headers
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), (b"x-request-id", rid.encode())]
                message["headers"] = headers
            elif head:  # the server sends no body, whatever the app hands it
                pass
            elif kind == "http.response.body":
                bytes_out += len(message.get("body", b""))
            elif kind == "http.response.pathsend":  # the server sends the file, as announced
                bytes_out += next((int(v) for k, v in headers if k.lower() == b"content-length"), 0)
            await send(message)

        try:
            if path == "/metrics" and scope["method"] in ("GET", "HEAD") and self._open(scope):
                await self._serve_metrics(scope, counted_send)
            else:
                await self.app(scope, counted_receive, counted_send)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else "other"
            requests, seconds, sent, received = self._metrics_of(route, method, status)
            requests.inc()
            seconds.observe(time.perf_counter() - started)
            if bytes_out:
                sent.inc(bytes_out)
            if bytes_in:
                received.inc(bytes_in)
            if route == "token" and status >= 400:  # issues are counted by api/token.py
                metrics.TOKENS_REFUSED.inc()
            access_log.write(
                scope,
                rid=rid,
                route=route,
                status=status,
                started=started,
                bytes_in=bytes_in,
                bytes_out=bytes_out,
            )

    def _open(self, scope: Scope) -> bool:
        return allowed(scope, self._networks)

    async def _serve_metrics(self, scope: Scope, send: Send) -> None:
        # Reading every worker's files is disk work: off the event loop.
        body = await anyio.to_thread.run_sync(exposition)
        headers = [
            (b"content-type", CONTENT_TYPE_LATEST.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )
