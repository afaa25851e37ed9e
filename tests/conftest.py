"""Shared fixtures: a real tagtrail server on 127.0.0.1 and an HTTP client for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.s3 import S3Endpoint, moto_server
from tests.server import RunningServer, start_server


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
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Endpoint]:
    """moto's S3 server for the whole session; each user makes its own bucket."""
    with moto_server() as endpoint:
        yield endpoint
