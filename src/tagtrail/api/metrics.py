"""``/metrics`` (Prometheus text format) and the middleware that measures every request.

The middleware is plain ASGI: it wraps ``receive`` and ``send`` to count body bytes and see
the status, then counts the request, observes its duration and writes the access log line
(api/access_log.py). Starlette's BaseHTTPMiddleware would put every manifest GET through a
task and a stream of its own; the registry's hot path skips Starlette for that reason
(api/app.py), so this one must not bring the cost back. For the same reason a request is
tallied in plain Python (``_Tally``) and the tallies are added to prometheus_client's values
in one go at most ``FLUSH_SECONDS`` later: a multiprocess value costs 1-2 us an update (a
lock and a write to its memory-mapped file), four updates a request, some 15% of a manifest
GET's own time. A scrape flushes the worker that answers it; the others' last requests show
within ``FLUSH_SECONDS``, and a worker flushes what is left when it stops.

``/metrics`` answers callers from the networks of ``metrics_allow`` (loopback by default);
anyone else gets the 404 of an unknown path, from the app itself. A request that came through
a proxy (``Forwarded``, ``X-Forwarded-For``, ``X-Real-IP``) counts as from every address it
names: a proxy on the same host does not open the metrics to the proxy's callers.
"""

from __future__ import annotations

import asyncio
import bisect
import ipaddress
import time
from collections.abc import Iterable

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
FLUSH_SECONDS = 1.0
_BOUNDS = (*metrics.DURATION_BUCKETS, float("inf"))  # a histogram's buckets, +Inf last


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


class _Tally:
    """One (route class, method, status)'s requests since the last flush."""

    __slots__ = ("buckets", "bytes_in", "bytes_out", "requests", "reused", "seconds")

    def __init__(self) -> None:
        self.requests = self.bytes_out = self.bytes_in = self.reused = 0
        self.seconds = 0.0
        self.buckets = [0] * len(_BOUNDS)

    def add(self, seconds: float, bytes_out: int, bytes_in: int, reused: bool = False) -> None:
        self.requests += 1
        self.reused += reused
        self.bytes_out += bytes_out
        self.bytes_in += bytes_in
        self.seconds += seconds
        # A histogram counts an observation in the first bucket whose bound is >= it.
        self.buckets[bisect.bisect_left(_BOUNDS, seconds)] += 1


class Observed:
    """The app, measured: request metrics, the access log, ``X-Request-Id``, ``/metrics``."""

    def __init__(self, app: ASGIApp, metrics_allow: Iterable[str]) -> None:
        self.app = app
        self._networks = [ipaddress.ip_network(n, strict=False) for n in metrics_allow]
        self._tallies: dict[tuple[str, str, int], _Tally] = {}
        self._flush_timer: asyncio.TimerHandle | None = None
        if directory := metrics.multiprocess_dir():
            metrics.forget_dead_workers(directory)

    def _tally(self, route: str, method: str, status: int) -> _Tally:
        key = (route, method, status)
        found = self._tallies.get(key)
        if found is None:
            found = self._tallies[key] = _Tally()
        if self._flush_timer is None:
            self._flush_timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)
        return found

    def flush(self) -> None:
        """Add the tallies to the Prometheus values (and so to this worker's files)."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        tallies, self._tallies = self._tallies, {}
        for (route, method, status), tally in tallies.items():
            metrics.REQUESTS.labels(route, method, str(status)).inc(tally.requests)
            histogram = metrics.REQUEST_SECONDS.labels(route, method)
            # A histogram child has no batch observe: its sum and buckets are what observe()
            # adds to (prometheus_client's Histogram; tests/api/test_metrics.py reads both).
            histogram._sum.inc(tally.seconds)
            for value, count in zip(histogram._buckets, tally.buckets, strict=True):
                if count:
                    value.inc(count)
            if tally.bytes_out:
                metrics.RESPONSE_BYTES.labels(route).inc(tally.bytes_out)
            if tally.bytes_in:
                metrics.REQUEST_BYTES.labels(route).inc(tally.bytes_in)
            if tally.reused:
                metrics.REUSED_ANSWERS.labels(route).inc(tally.reused)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._flushing_at_shutdown(send))
            return
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
                self.flush()
                await self._serve_metrics(scope, counted_send)
            else:
                await self.app(scope, counted_receive, counted_send)
        finally:
            self._finished(scope, rid, route, status, started, bytes_in, bytes_out)

    async def give(
        self,
        scope: Scope,
        send: Send,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        route: str,
        started: float,
    ) -> None:
        """Send a 200 prepared beforehand (api/pull_answers.py), measured and logged as any
        answer, without the wrappers an app's answer goes through."""
        rid = access_log.request_id()
        headers = [*headers, (b"x-request-id", rid.encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        sent = 0 if scope["method"] == "HEAD" else len(body)
        self._finished(scope, rid, route, 200, started, 0, sent, True)

    def _finished(
        self,
        scope: Scope,
        rid: str,
        route: str,
        status: int,
        started: float,
        bytes_in: int,
        bytes_out: int,
        reused: bool = False,
    ) -> None:
        method = scope["method"] if scope["method"] in _METHODS else "other"
        elapsed = time.perf_counter() - started
        self._tally(route, method, status).add(elapsed, bytes_out, bytes_in, reused)
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

    def _flushing_at_shutdown(self, send: Send) -> Send:
        async def send_and_flush(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                self.flush()
            await send(message)

        return send_and_flush

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
