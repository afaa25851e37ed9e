"""Races through a real server on SQLite; tests/scaleout has the same on PostgreSQL + S3."""

from __future__ import annotations

import asyncio

from tests.reliability import scenarios
from tests.server import RunningServer


def test_same_blob_pushed_by_many_clients(server: RunningServer) -> None:
    asyncio.run(scenarios.same_blob_from_many_clients([server.url]))


def test_one_tag_moved_by_many_clients(server: RunningServer) -> None:
    asyncio.run(scenarios.one_tag_moved_by_many_clients([server.url]))
