"""A fault-injecting HTTP proxy on 127.0.0.1, in front of a real upstream registry.

The mirror's failure paths need an upstream that misbehaves on cue: drop the connection, answer
5xx or 429 with Retry-After, cut a body short or change one of its bytes. Real registries do
all of that in production and none of it on demand, so this proxy forwards every request to the
real upstream and applies the first rule whose pattern matches the request's path (a rule can
be limited to its first ``times`` matches). It serves one request per connection
(``Connection: close``), which keeps it small and is all the clients under test need.

It runs its own event loop in a thread, so a test can drive the client under test with
``asyncio.run`` while the proxy serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import httpx

FaultKind = Literal["drop", "status", "rate_limit", "truncate", "corrupt", "basic_challenge"]
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
}


@dataclass
class Fault:
    """What to do to a request whose path matches ``pattern`` (a regular expression searched
    in the path): ``status`` answers that code (a 5xx, say); ``rate_limit`` answers 429 with
    ``Retry-After: retry_after``; ``truncate`` sends half the real body after the real
    Content-Length; ``corrupt`` flips one byte of the real body; ``basic_challenge`` answers
    401 with a Basic challenge unless the request carries Basic credentials (which the
    upstream then checks), as registries with HTTP Basic auth do."""

    pattern: str
    kind: FaultKind
    status: int = 503
    retry_after: str = "1"
    times: int | None = None  # None: every match
    methods: tuple[str, ...] = ("GET", "HEAD")

    def matches(self, method: str, path: str) -> bool:
        live = self.times is None or self.times > 0
        return live and method in self.methods and re.search(self.pattern, path) is not None


@dataclass
class FaultProxy:
    upstream: str
    port: int = 0
    faults: list[Fault] = field(default_factory=list)
    seen: list[tuple[str, str]] = field(default_factory=list)  # (method, path) of each request

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, fault: Fault) -> None:
        self.faults.append(fault)

    def clear(self) -> None:
        self.faults.clear()
        self.seen.clear()

    def _pick(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path):
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, http: httpx.AsyncClient
    ) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = [tuple(x.split(":", 1)) for x in lines[1:] if ":" in x]
            sent = {k.strip(): v.strip() for k, v in headers if k.strip().lower() != "host"}
            length = int(next((v for k, v in sent.items() if k.lower() == "content-length"), 0))
            body = await reader.readexactly(length) if length else b""
            path = target.split("?", 1)[0]
            self.seen.append((method, path))
            fault = self._pick(method, path)
            if fault is not None and fault.kind == "drop":
                return
            authorization = next((v for k, v in sent.items() if k.lower() == "authorization"), "")
            if fault is not None and fault.kind == "basic_challenge":
                if not authorization.startswith("Basic "):
                    writer.write(
                        b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="proxy"\r\n'
                        b"Content-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                    return
                fault = None
            if fault is not None and fault.kind in ("status", "rate_limit"):
                status = 429 if fault.kind == "rate_limit" else fault.status
                extra = (
                    f"Retry-After: {fault.retry_after}\r\n" if fault.kind == "rate_limit" else ""
                )
                message = b'{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}'
                writer.write(
                    f"HTTP/1.1 {status} Injected\r\n{extra}Content-Type: application/json\r\n"
                    f"Content-Length: {len(message)}\r\nConnection: close\r\n\r\n".encode()
                    + (b"" if method == "HEAD" else message)
                )
                return
            answer = await http.request(method, target, headers=sent, content=body)
            data = answer.content
            out = [f"HTTP/1.1 {answer.status_code} {answer.reason_phrase}"]
            out += [f"{k}: {v}" for k, v in answer.headers.multi_items() if k not in _HOP_BY_HOP]
            # A HEAD's length is the upstream's; a GET's the body's as httpx decoded it.
            length_header = answer.headers.get("content-length", "0")
            length_header = length_header if method == "HEAD" else str(len(data))
            out += [f"Content-Length: {length_header}", "Connection: close", "", ""]
            if fault is not None and fault.kind == "truncate":
                data = data[: len(data) // 2]
            if fault is not None and fault.kind == "corrupt" and data:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            writer.write("\r\n".join(out).encode("latin-1") + (b"" if method == "HEAD" else data))
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            return
        finally:
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()

    async def _serve(self, ready: threading.Event, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(base_url=self.upstream, timeout=30) as http:
            server = await asyncio.start_server(
                lambda r, w: self._handle(r, w, http), "127.0.0.1", self.port
            )
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            async with server:
                await stop.wait()


@contextlib.contextmanager
def fault_proxy(upstream: str) -> Iterator[FaultProxy]:
    """A running proxy in front of ``upstream`` (its URL), stopped on exit."""
    proxy = FaultProxy(upstream)
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def run() -> None:
        loop.run_until_complete(proxy._serve(ready, stop))

    thread = threading.Thread(target=run, name="fault-proxy", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the fault proxy did not start")
    try:
        yield proxy
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
