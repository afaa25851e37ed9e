"""The API tests' registries: the app in this process for what the app decides, and the real
server (tests/server.py) for what only it does.

``client`` reaches the app through ``httpx.ASGITransport`` (tests/inprocess.py): no server
process, no sockets, and a failure shows the app's own traceback. ``served_client`` reaches
the session's ``tagtrail serve`` over HTTP, for the tests of the HTTP layer: requests as
granian parses them (raw bytes, path traversal), bodies streamed in pieces and refused at a
limit, and blobs sent from their files (ASGI pathsend, which only granian offers).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.inprocess import InProcessRegistry, in_process_registry
from tests.server import RunningServer, memory_dir
from tests.ssl_context import SHARED


@pytest.fixture(scope="session")
def app_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessRegistry]:
    """One in-process registry for the API tests; they keep to their own repository names."""
    with (
        memory_dir(tmp_path_factory.mktemp("in-process")) as directory,
        in_process_registry(directory / "data") as registry,
    ):
        yield registry


@pytest.fixture
def client(app_registry: InProcessRegistry) -> Iterator[httpx.Client]:
    with app_registry.client() as http:
        yield http


@pytest.fixture
def served_client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30, verify=SHARED) as http:
        yield http
