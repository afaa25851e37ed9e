"""Upstreams for the mirror tests: one Distribution for the package, and a tagtrail with auth
on (the history API and the token flow with credentials)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.auth.cli import admin_cli
from tests.auth.helpers import ADMIN_PASSWORD
from tests.mirror.upstreams import Distribution, start_distribution
from tests.server import RunningServer, start_server
from tests.ssl_context import SHARED

# The organisation the tests push to on the auth upstream: private, so anonymous is refused.
UPSTREAM_ORG = "up"


@pytest.fixture(scope="session")
def distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Distribution]:
    running = start_distribution(tmp_path_factory.mktemp("distribution"))
    yield running
    running.stop()


@pytest.fixture
def distribution_http(distribution: Distribution) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=distribution.url, timeout=30) as http:
        yield http


@pytest.fixture(scope="session")
def auth_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A tagtrail with auth on and a private organisation ``up`` the admin pushes to."""
    data = tmp_path_factory.mktemp("tagtrail-upstream") / "data"
    running = start_server(data, "--auth", env={"TAGTRAIL_ADMIN_PASSWORD": ADMIN_PASSWORD})
    try:
        admin_cli(data, "org", "create", UPSTREAM_ORG, "--visibility", "private")
        yield running
    finally:
        running.stop()


@pytest.fixture
def auth_upstream_http(auth_upstream: RunningServer) -> Iterator[httpx.Client]:
    """The admin's client of the auth upstream (Basic on /v2, as tagtrail accepts)."""
    with httpx.Client(
        base_url=auth_upstream.url, timeout=30, verify=SHARED, auth=("admin", ADMIN_PASSWORD)
    ) as http:
        yield http
