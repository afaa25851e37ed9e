"""A tiny registry in a thread that serves only what the public Tag History API description
promises: ``GET /v2/<name>/_chainguard/history/<tag>``, oldest first, ``start``/``end``
inclusive, at most 1000 records a response, and no ``Link`` header. It also answers tag
manifest HEADs (so the client can tell an unknown tag from a missing API; a tag in ``deleted``
has history but no manifest). It has no ``_oci/tag-history`` (answered ``oci_status``, 404 as
the draft says, or what other registries answer for an unknown route), and with
``history=False`` no history API at all."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tagtrail.times import format_timestamp, parse_timestamp

CAP = 1000
_HISTORY_RE = re.compile(r"/v2/(?P<name>.+)/_chainguard/history/(?P<tag>[^/]+)")
_MANIFEST_RE = re.compile(r"/v2/(?P<name>.+)/manifests/(?P<reference>[^/]+)")


@dataclass
class FixtureRegistry:
    """``records[(name, tag)]`` holds (epoch ms, digest) pairs, oldest first."""

    records: dict[tuple[str, str], list[tuple[int, str]]] = field(default_factory=dict)
    history: bool = True
    deleted: set[tuple[str, str]] = field(default_factory=set)
    oci_status: int = 404
    requests: list[str] = field(default_factory=list)
    port: int = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


def _handler(registry: FixtureRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _send(
            self, status: int, body: object | None, headers: dict[str, str] | None = None
        ) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _error(self, status: int, code: str, message: str) -> None:
            self._send(status, {"errors": [{"code": code, "message": message, "detail": None}]})

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            registry.requests.append(self.path)
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if url.path == "/v2/":
                self._send(200, {})
                return
            manifest = _MANIFEST_RE.fullmatch(url.path)
            if manifest is not None:
                key = (manifest["name"], manifest["reference"])
                found = registry.records.get(key)
                if not found or key in registry.deleted:
                    self._error(404, "MANIFEST_UNKNOWN", "manifest unknown")
                    return
                self._send(200, None, {"Docker-Content-Digest": found[-1][1]})
                return
            if "/_oci/tag-history/" in url.path:
                code = "UNSUPPORTED" if registry.oci_status == 400 else "NOT_FOUND"
                self._error(registry.oci_status, code, "no such endpoint")
                return
            match = _HISTORY_RE.fullmatch(url.path)
            if match is None or not registry.history:
                self._error(404, "NOT_FOUND", "no such endpoint")
                return
            found = registry.records.get((match["name"], match["tag"]))
            if found is None:
                self._error(404, "MANIFEST_UNKNOWN", "tag unknown")
                return
            start = parse_timestamp(query["start"], round_up=True) if "start" in query else None
            end = parse_timestamp(query["end"]) if "end" in query else None
            selected = [
                (ts, digest)
                for ts, digest in found
                if (start is None or ts >= start) and (end is None or ts <= end)
            ]
            body = {
                "history": [
                    {"updateTimestamp": format_timestamp(ts), "digest": digest}
                    for ts, digest in selected[:CAP]
                ]
            }
            self._send(200, body)

    return Handler


@contextmanager
def serve(registry: FixtureRegistry) -> Iterator[FixtureRegistry]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(registry))
    registry.port = server.server_address[1]
    # shutdown() waits for serve_forever's next poll: 0.5 s a test at its default interval.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield registry
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
