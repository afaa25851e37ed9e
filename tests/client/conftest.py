"""Client tests never read the machine's own Docker config: each starts with an empty one
(tests that need credentials point ``DOCKER_CONFIG`` elsewhere). They share one registry
without auth, each module in repositories of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.helpers import repo
from tests.client.helpers import Moved, move_many
from tests.server import RunningServer, memory_dir, start_server


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The client tests' registry without auth, one start per test process (as tests/auth's
    world): history, pin, restore, TLS fallback and OpenAPI tests keep to their own names."""
    with memory_dir(tmp_path_factory.mktemp("client")) as directory:
        running = start_server(directory / "data")
        yield running
        running.stop()


@pytest.fixture(scope="session")
def moved(registry: RunningServer) -> Moved:
    """A tag of the registry moved across three history pages, for the history tests and the
    OpenAPI checks of history pages alike (one set of pushes, not one a module)."""
    return move_many(registry, repo("client-history"))


@pytest.fixture(autouse=True)
def empty_docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "empty-docker-config"
    directory.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(directory))
