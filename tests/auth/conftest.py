"""One auth-enabled server with a few accounts, shared by the tests of this package."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.auth.helpers import ADMIN_PASSWORD, assert_no_secret_logged
from tests.auth.world import World, build_world
from tests.server import RunningServer, start_server


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The shared server, one per test process: pytest-xdist hands each worker files of
    several packages in turn, and a package-scoped server restarted (3-4 s) at each return.
    Once every test has used it, its log is checked for the secrets they handled
    (test_logs.py does the same for one test's own requests)."""
    server = start_server(
        tmp_path_factory.mktemp("auth") / "data",
        "--auth",
        env={"TAGTRAIL_ADMIN_PASSWORD": ADMIN_PASSWORD},
    )
    try:
        yield build_world(server)
    finally:
        server.stop()
    assert_no_secret_logged(server.log(), server.log_path)


StartAuth = Callable[..., RunningServer]


@pytest.fixture
def start_auth(tmp_path: Path) -> Iterator[StartAuth]:
    """Start dedicated auth servers: ``start(data_dir=None, *flags, **env)``; stopped after.

    The admin password is ADMIN_PASSWORD unless ``TAGTRAIL_ADMIN_PASSWORD=""`` unsets it.
    """
    started: list[RunningServer] = []

    def start(data_dir: Path | None = None, *flags: str, **env: str) -> RunningServer:
        env = {k: v for k, v in {"TAGTRAIL_ADMIN_PASSWORD": ADMIN_PASSWORD, **env}.items() if v}
        directory = data_dir or tmp_path / f"data{len(started)}"
        running = start_server(directory, "--auth", *flags, env=env)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
