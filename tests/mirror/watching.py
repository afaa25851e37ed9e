"""Helpers of the watch tests: a tagtrail mirroring an upstream, its history, polling."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.auth.cli import admin_cli
from tests.server import RunningServer, start_server
from tests.ssl_context import SHARED

ORIGIN = "dev.tagtrail.origin"
MOVED_AFTER = "dev.tagtrail.moved-after"
TIMESTAMP = "org.opencontainers.distribution.tag.timestamp"
_T = TypeVar("_T")


def fresh_repository() -> str:
    """An upstream repository no other test uses (the Distribution is the package's)."""
    return f"w{uuid.uuid4().hex[:10]}/app"


def poll(what: str, check: Callable[[], _T | None], timeout: float = 30) -> _T:
    """``check()``'s first truthy answer, asked every 0.1 s; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(0.1)


def mirroring_server(
    data: Path,
    upstream: str,
    *,
    prefix: str = "dist",
    env: dict[str, str] | None = None,
    credentials: tuple[str, str] | None = None,
) -> RunningServer:
    """A tagtrail (no auth) with ``upstream`` mirrored under ``prefix``, checked every 1 s."""
    server = start_server(data, env=env)
    args = ["mirror", "add", prefix, upstream, "--check-interval", "1s", "--no-check"]
    stdin = None
    if credentials is not None:
        args += ["--username", credentials[0], "--password-stdin"]
        stdin = credentials[1] + "\n"
    admin_cli(data, *args, stdin=stdin, env=env)
    return server


def history(server: RunningServer, repository: str, tag: str) -> list[dict[str, Any]]:
    """The tag's records as ``_oci/tag-history`` gives them (newest first): descriptors."""
    answer = httpx.get(
        f"{server.url}/v2/{repository}/_oci/tag-history/{tag}", timeout=10, verify=SHARED
    )
    if answer.status_code == 404:
        return []
    assert answer.status_code == 200, answer.text
    manifests: list[dict[str, Any]] = answer.json()["manifests"]
    return manifests


def recorded(server: RunningServer, repository: str, tag: str, digest: str) -> bool:
    """Whether the newest record of ``tag`` names ``digest``."""
    records = history(server, repository, tag)
    return bool(records) and records[0]["digest"] == digest
