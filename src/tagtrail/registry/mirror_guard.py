"""Writes into a mirror's prefix are refused: what is there is the upstream's, as it was seen.

One lookup of the registered prefixes serves a worker for a few seconds (a push makes several
requests, each checked); a mirror added or removed with the CLI takes effect within that time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tagtrail.accounts import organisation_of
from tagtrail.errors import Denied
from tagtrail.meta.mirrors import MirrorDirectory
from tagtrail.types import RepoName

CACHE_SECONDS = 2.0


class MirrorGuard:
    def __init__(
        self,
        directory: MirrorDirectory,
        *,
        ttl: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._directory = directory
        self._ttl = ttl
        self._clock = clock
        self._upstreams: dict[str, str] = {}
        self._expires = float("-inf")

    async def refuse_writes(self, name: RepoName) -> None:
        """Raise Denied ("mirror of <url>") when ``name`` is under a mirror's prefix."""
        if self._clock() >= self._expires:
            self._upstreams = await self._directory.mirror_upstreams()
            self._expires = self._clock() + self._ttl
        url = self._upstreams.get(organisation_of(name))
        if url is not None:
            raise Denied(f"mirror of {url}", detail={"name": str(name)})


async def refuse_writes(guard: MirrorGuard | None, name: RepoName) -> None:
    """``guard.refuse_writes`` for a use case that may have no guard (no mirror store wired)."""
    if guard is not None:
        await guard.refuse_writes(name)
