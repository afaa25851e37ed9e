"""Browsing: what the web UI reads that the registry API does not (overviews, the history
around a record, which tags named a digest), so that it never reaches for the stores.

Answers are plain: None or empty where nothing is stored. Whether the viewer may see it is the
UI's to decide (through the same Guard as the API), before it asks.
"""

from __future__ import annotations

from collections.abc import Sequence

from tagtrail.meta.store import BrowsingStore, HistoryStore, ManifestStore, RepositoryStore
from tagtrail.types import (
    Digest,
    HistoryRecord,
    Referrer,
    RepoName,
    RepositorySummary,
    StoredManifest,
    Tag,
    TagDetail,
)


class Browsing:
    def __init__(
        self,
        browsing: BrowsingStore,
        history: HistoryStore,
        manifests: ManifestStore,
        repositories: RepositoryStore,
    ) -> None:
        self._browsing = browsing
        self._history = history
        self._manifests = manifests
        self._repositories = repositories

    # Repositories and their tags ----------------------------------------------------------

    async def exists(self, name: RepoName) -> bool:
        return await self._repositories.repository_exists(name)

    async def summaries(self, names: Sequence[str]) -> list[RepositorySummary]:
        """Tag count and latest tag update of each of ``names`` that exists, by name."""
        return await self._browsing.repository_summaries(names)

    async def tags(self, name: RepoName, limit: int | None, after: str | None) -> list[TagDetail]:
        """Current tags by name (after ``after``, at most ``limit``) with their manifests."""
        return await self._browsing.tag_details(name, limit, after)

    # A tag's history ------------------------------------------------------------------------

    async def has_history(self, name: RepoName, tag: Tag) -> bool:
        return await self._history.tag_has_history(name, tag)

    async def record_at(self, name: RepoName, tag: Tag, at_ms: int) -> HistoryRecord | None:
        """The newest record at or before ``at_ms``: what the tag pointed to then (unless it
        is a deletion), None before its first."""
        found = await self._history.history(
            name, tag, start_ms=None, end_ms=at_ms, limit=1, newest_first=True
        )
        return found[0] if found else None

    async def record_from(self, name: RepoName, tag: Tag, start_ms: int) -> HistoryRecord | None:
        """The oldest record at or after ``start_ms``: the one that ended the state before."""
        found = await self._history.history(name, tag, start_ms=start_ms, end_ms=None, limit=1)
        return found[0] if found else None

    async def first_pointed_ms(self, name: RepoName, tag: Tag, digest: Digest) -> int | None:
        """When ``tag`` first pointed to ``digest``; None when it never did."""
        found = await self._history.history(
            name, tag, start_ms=None, end_ms=None, limit=1, event="created", digest=digest
        )
        return found[0].timestamp_ms if found else None

    # A digest -------------------------------------------------------------------------------

    async def manifest(self, name: RepoName, digest: Digest) -> StoredManifest | None:
        return await self._manifests.get_manifest(name, digest)

    async def referrers(self, name: RepoName, digest: Digest) -> list[Referrer]:
        """The manifests of ``name`` whose subject is ``digest``, oldest first."""
        return await self._manifests.referrers(name, digest, None)

    async def tags_naming(self, name: RepoName, digest: Digest) -> list[str]:
        """Every tag whose history names ``digest`` (it points or pointed there), by name."""
        return await self._browsing.tags_naming(name, digest)
