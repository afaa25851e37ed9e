"""Commits that acknowledge something lasting wait for the disk; upload progress need not."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tagtrail.meta.database import Database

pytestmark = pytest.mark.anyio

# What each database reports for "waits for the disk" and "does not".
_SETTING: dict[str, tuple[str, dict[bool, object]]] = {
    "sqlite": ("PRAGMA synchronous", {True: 2, False: 1}),  # FULL, NORMAL
    "postgresql": ("SHOW synchronous_commit", {True: "on", False: "off"}),
}


async def _setting_inside(database: Database, durable: bool) -> object:
    query, _ = _SETTING[database.dialect]
    async with database.write(durable=durable) as conn:
        return await conn.scalar(text(query))


async def test_writes_are_durable_unless_told_otherwise(database_url: str) -> None:
    database = await Database.open(database_url)
    try:
        _, expected = _SETTING[database.dialect]
        async with database.write() as conn:
            assert await conn.scalar(text(_SETTING[database.dialect][0])) == expected[True]
        # Switching back and forth on the one writing connection keeps each promise.
        for durable in (False, True, False, False, True):
            assert await _setting_inside(database, durable) == expected[durable]
    finally:
        await database.close()


async def test_reads_and_other_connections_commit_durably(database_url: str) -> None:
    database = await Database.open(database_url)
    try:
        await _setting_inside(database, False)
        async with database.read() as conn:
            # A fresh connection (and the reader) start durable, whatever the writer did.
            if database.dialect == "sqlite":
                assert await conn.scalar(text("PRAGMA synchronous")) == 2
            else:
                assert await conn.scalar(text("SHOW synchronous_commit")) == "on"
    finally:
        await database.close()
