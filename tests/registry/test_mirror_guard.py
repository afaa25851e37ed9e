"""The mirror guard on a real mirror store: writes under a mirror's prefix are Denied, naming
the upstream, and the prefixes are looked up once per cache period, not once per request."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tagtrail.errors import Denied
from tagtrail.meta.database import Database
from tagtrail.meta.mirrors import MirrorRecord
from tagtrail.meta.sql_mirrors import SqlMirrorStore
from tagtrail.registry.mirror_guard import MirrorGuard
from tagtrail.types import RepoName


def test_guard_denies_under_a_prefix_and_caches_the_lookup(tmp_path: Path) -> None:
    async def run() -> None:
        database = await Database.open(f"sqlite:///{tmp_path / 'meta.db'}")
        try:
            store = SqlMirrorStore(database, None)  # no key: passwords are not needed here
            await store.add_mirror(MirrorRecord("hub", "https://registry-1.docker.io"))
            now = [0.0]
            guard = MirrorGuard(store, ttl=2.0, clock=lambda: now[0])
            with pytest.raises(Denied, match=r"^mirror of https://registry-1\.docker\.io$"):
                await guard.refuse_writes(RepoName("hub/library/python"))
            await guard.refuse_writes(RepoName("hubble/app"))  # another organisation
            await store.add_mirror(MirrorRecord("quay", "https://quay.io"))
            await guard.refuse_writes(RepoName("quay/app"))  # not seen within the period
            now[0] = 2.0
            with pytest.raises(Denied, match=r"mirror of https://quay\.io"):
                await guard.refuse_writes(RepoName("quay/app"))
        finally:
            await database.close()

    asyncio.run(run())
