"""Limits (all settings): manifest and upload sizes, open uploads, headers, slow and idle
clients. Refusals are OCI error bodies, or a closed connection below HTTP; never a 5xx."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import OCI_MANIFEST, assert_oci_error, random_bytes, sha256
from tests.server import RunningServer, start_server

LIMITS = {
    "TAGTRAIL_MAX_MANIFEST_BYTES": "2048",
    "TAGTRAIL_MAX_UPLOAD_BYTES": "1000",
    "TAGTRAIL_MAX_UPLOADS_PER_REPOSITORY": "3",
    "TAGTRAIL_MAX_HEADER_BYTES": "16384",
    "TAGTRAIL_HEADER_TIMEOUT_SECONDS": "1",
    "TAGTRAIL_BODY_TIMEOUT_SECONDS": "1",
}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("limits") / "data", env=LIMITS)
    yield running
    running.stop()


@pytest.fixture
def http(limited: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=limited.url, timeout=30) as client:
        yield client


def test_manifest_over_the_limit(http: httpx.Client) -> None:
    body = b'{"schemaVersion": 2, "pad": "' + b"x" * 3000 + b'"}'
    response = http.put(
        "/v2/limits/m/manifests/big", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert_oci_error(response, 413, "SIZE_INVALID")


def test_upload_over_the_limit(http: httpx.Client) -> None:
    data = random_bytes(1001)
    monolithic = http.post(
        "/v2/limits/u/blobs/uploads/", params={"digest": sha256(data)}, content=data
    )
    assert_oci_error(monolithic, 413, "SIZE_INVALID")
    started = http.post("/v2/limits/u/blobs/uploads/")
    first = http.patch(started.headers["location"], content=data[:600])
    assert first.status_code == 202
    second = http.patch(first.headers["location"], content=data[600:])
    assert_oci_error(second, 413, "SIZE_INVALID")
    http.delete(first.headers["location"])
    assert http.head(f"/v2/limits/u/blobs/{sha256(data)}").status_code == 404


def test_open_uploads_per_repository(http: httpx.Client) -> None:
    sessions = [http.post("/v2/limits/open/blobs/uploads/") for _ in range(3)]
    assert [s.status_code for s in sessions] == [202] * 3
    assert_oci_error(http.post("/v2/limits/open/blobs/uploads/"), 429, "TOOMANYREQUESTS")
    assert http.post("/v2/limits/other/blobs/uploads/").status_code == 202
    assert http.delete(sessions[0].headers["location"]).status_code == 204
    assert http.post("/v2/limits/open/blobs/uploads/").status_code == 202


def test_oversized_headers_are_refused(http: httpx.Client) -> None:
    try:
        response = http.get("/v2/", headers={"X-Padding": "a" * 40_000})
    except httpx.TransportError:
        pass  # the connection was closed: refused below HTTP
    else:
        assert 400 <= response.status_code < 500
    _assert_still_serving(http)


def test_slow_body_is_refused(http: httpx.Client) -> None:
    def trickle() -> Iterator[bytes]:
        yield b"a" * 10
        time.sleep(2.5)
        yield b"b" * 10

    started = http.post("/v2/limits/slow/blobs/uploads/")
    begun = time.monotonic()
    try:
        response = http.patch(started.headers["location"], content=trickle())
    except httpx.TransportError:
        pass  # the connection was closed while the body stalled
    else:
        assert_oci_error(response, 400, "BLOB_UPLOAD_INVALID")
    # Refused by the body timeout (1 s), not by the trickle finishing; the server lives on and
    # the stalled piece never counted: the session holds none of the 20 bytes sent.
    assert time.monotonic() - begun < 10
    _assert_still_serving(http)
    status = http.get(started.headers["location"])
    if status.status_code == 204:
        assert status.headers["range"] in ("0-0", "0-9")
    else:
        assert_oci_error(status, 404, "BLOB_UPLOAD_UNKNOWN")


def _assert_still_serving(http: httpx.Client) -> None:
    """A refusal below HTTP must not have been a crash: a new connection is served."""
    with httpx.Client(base_url=str(http.base_url), timeout=10) as fresh:
        assert fresh.get("/v2/").status_code == 200


@pytest.mark.parametrize(
    "sent",
    [b"GET /v2/ HTTP/1.1\r\nHost: x\r\n", b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n"],
    ids=["slow-headers", "idle-keep-alive"],
)
def test_slow_or_idle_connection_is_closed(limited: RunningServer, sent: bytes) -> None:
    with socket.create_connection(("127.0.0.1", limited.port), timeout=10) as sock:
        sock.sendall(sent)
        started = time.monotonic()
        received = b""
        while chunk := _recv(sock):
            received += chunk
        assert time.monotonic() - started < 8
        assert b"HTTP/1.1 5" not in received  # answered (keep-alive) or closed, never a 5xx


def test_silent_connection_is_closed_while_others_are_served(
    limited: RunningServer, http: httpx.Client
) -> None:
    """Connections that never send a byte (slowloris) are closed after the header timeout
    (1 s here) instead of being held forever, and a normal client is served meanwhile."""
    silent = [socket.create_connection(("127.0.0.1", limited.port), timeout=10) for _ in range(20)]
    started = time.monotonic()
    try:
        assert http.get("/v2/").status_code == 200
        for sock in silent:
            try:
                assert _recv(sock) == b""  # end of stream: the server closed it
            except TimeoutError:
                pytest.fail("a connection that sent nothing was still open after 10 s")
        assert time.monotonic() - started < 1 + 3
        # A new connection: the server closes idle keep-alive ones after the same 1 s, so
        # the client's pooled one may be closing just as it is reused.
        _assert_still_serving(http)
    finally:
        for sock in silent:
            sock.close()


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except ConnectionResetError:
        return b""


def test_limits_are_settings_with_defaults(tmp_path: Path) -> None:
    from tagtrail.config import load_settings

    defaults = load_settings(data_dir=tmp_path)
    assert defaults.max_manifest_bytes == 4 * 1024 * 1024
    assert defaults.max_uploads_per_repository == 1000
    assert defaults.history_retention_days is None
    assert defaults.upload_expiry_seconds == 86_400
