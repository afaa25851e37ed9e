"""Fixtures for the end-to-end tests with real clients (skopeo, buildah, podman, oras, dxf)."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Generator
from pathlib import Path

import pytest

from tests.e2e.helpers import Skopeo, require_binary
from tests.server import RunningServer


@pytest.fixture(scope="session")
def policy_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A containers trust policy accepting anything, as there may be no system one."""
    path = tmp_path_factory.mktemp("containers") / "policy.json"
    path.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    return path


@pytest.fixture
def skopeo(policy_path: Path) -> Skopeo:
    require_binary("skopeo")
    return Skopeo(policy_path)


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Unique repository names: ``e2e/<test name>-<random>/<suffix>``."""
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower().removeprefix("test_")).strip("-")
    prefix = f"e2e/{base[:60].strip('-')}-{secrets.token_hex(3)}"

    def make(suffix: str) -> str:
        return f"{prefix}/{suffix}"

    return make


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On failure, show the tail of the shared server's log next to the clients' output."""
    report = yield
    running = getattr(item, "funcargs", {}).get("server")
    if report.failed and isinstance(running, RunningServer):
        tail = "\n".join(running.log().splitlines()[-60:])
        report.sections.append(("tagtrail server log (tail)", tail))
    return report
