"""Shared fixtures: a real tagtrail server on 127.0.0.1 and an HTTP client for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.s3 import S3Endpoint, s3_server
from tests.server import RunningServer, start_server
from tests.ssl_context import SHARED

TESTS = Path(__file__).parent

# Markers by where a test lives (pyproject registers them), so that `-m "not e2e and not
# slow"` leaves out the container tools and what takes seconds a test: crash and soak rounds,
# replicas, fuzzing, the browser, the tests whose subject is processes (server starts and
# stops, CLI runs, apt's lock waits, connection timeouts), gc and store-identity passes over
# S3, argon2 timings, and validating every answer against the OpenAPI document. A directory
# ends in "/".
MARKED = {
    "e2e": ("e2e/", "e2e_auth/"),
    "slow": (
        "scaleout/",
        "mirror/",
        "auth/test_admin_cli.py",
        "cli/test_serve.py",
        "cli/test_serve_process.py",
        "cli/test_storage_commands.py",
        "reliability/test_limits.py",
        "unit/test_apt_lock.py",
        "reliability/test_crash.py",
        "reliability/test_gc.py",
        "reliability/test_gc_orphans.py",
        "reliability/test_schemathesis.py",
        "reliability/test_store_identity.py",
        "ui/test_browser.py",
        "ui/test_large_history.py",
        "ui/test_layout.py",
        "ui/test_session_rotation.py",
        "auth/test_logins.py",
        "auth/test_claims.py",
        "cli/test_db.py",
        "cli/test_gc_cli.py",
        "meta/test_gc.py",
        "meta/test_gc_orphans.py",
        "meta/test_store_identity.py",
        "blobs/test_s3_marker.py",
        "client/test_openapi.py",
        "client/test_pin_min_age.py",
        "events/test_delivery_processes.py",
        "unit/test_rgw.py",
        "api/test_blob_head_s3.py",
        "reliability/test_multipart_crash.py",
        "blobs/test_s3_multipart_orphans.py",
    ),
}


# Parameters that make a test slow wherever it lives: "s3" runs it against Ceph's RADOS Gateway.
SLOW_PARAMETERS = ("s3",)


def expected_markers(item: pytest.Item) -> set[str]:
    """The markers ``item`` carries by its place and its parameters."""
    where = item.path.relative_to(TESTS).as_posix()
    found = {m for m, places in MARKED.items() if any(where.startswith(p) for p in places)}
    callspec = getattr(item, "callspec", None)
    if callspec is not None and any(v in SLOW_PARAMETERS for v in callspec.params.values()):
        found.add("slow")
    return found


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for marker in expected_markers(item):
            item.add_marker(marker)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One registry for the whole session; tests keep to their own repository names."""
    running = start_server(tmp_path_factory.mktemp("registry") / "data")
    yield running
    running.stop()


@pytest.fixture
def start_registry(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """Start a dedicated registry with extra ``tagtrail serve`` flags."""
    started: list[RunningServer] = []

    def start(*extra_args: str) -> RunningServer:
        running = start_server(tmp_path / f"data{len(started)}", *extra_args)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30, verify=SHARED) as http:
        yield http


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Endpoint]:
    """Ceph's RADOS Gateway for the whole session (of this xdist worker: tests/s3.py says
    why), started when a test first needs it; each user makes its own bucket."""
    with s3_server() as endpoint:
        yield endpoint
