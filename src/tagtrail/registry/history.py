"""Tag history queries: the Chainguard-compatible view and the draft OCI tag-history view."""

from __future__ import annotations

from dataclasses import dataclass

from tagtrail.errors import NameUnknown, PaginationNumberInvalid, TagUnknown
from tagtrail.meta.store import HistoryStore, RepositoryStore
from tagtrail.types import Digest, HistoryRecord, RepoName, Tag

# The Tag History API returns at most this many records per response.
PAGE_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class HistoryPage:
    records: list[HistoryRecord]
    # Cursor of the first record not returned (``start`` for the Chainguard view, ``before``
    # for the OCI view), or None when the page completes the answer.
    next_cursor_ms: int | None


class History:
    def __init__(self, history: HistoryStore, repositories: RepositoryStore) -> None:
        self._history = history
        self._repositories = repositories

    async def moves(
        self, name: RepoName, tag: Tag, start_ms: int | None, end_ms: int | None
    ) -> HistoryPage:
        """Moves of ``tag`` (deletions left out), oldest first, ``start <= ts <= end``.

        The caller checks that start is not after end at the precision it was given: bounds
        rounded to milliseconds may cross inside one millisecond, which is an empty window.
        """
        if not await self._history.tag_has_history(name, tag):
            if not await self._repositories.repository_exists(name):
                raise NameUnknown(detail={"name": name})
            raise TagUnknown(detail={"tag": tag})
        records = await self._history.history(
            name, tag, start_ms=start_ms, end_ms=end_ms, limit=PAGE_LIMIT + 1, event="created"
        )
        if len(records) > PAGE_LIMIT:
            return HistoryPage(records[:PAGE_LIMIT], records[PAGE_LIMIT].timestamp_ms)
        return HistoryPage(records, None)

    async def events(
        self,
        name: RepoName,
        tag: Tag,
        *,
        limit: int | None,
        before_ms: int | None,
        since_ms: int | None,
        digest: Digest | None,
        with_previous: bool = False,
    ) -> HistoryPage:
        """Every assignment and deletion, newest first, ``since < ts < before`` (draft OCI).

        An unknown repository or tag is an empty answer, not an error, as the draft says.
        ``with_previous``: each record's ``previous`` digest filled in (for those who may see
        who moved the tag, and from where).
        """
        if limit is not None and limit < 0:
            raise PaginationNumberInvalid(detail={"n": limit})
        page = PAGE_LIMIT if limit is None else min(limit, PAGE_LIMIT)
        if page == 0:
            return HistoryPage([], None)
        records = await self._history.history(
            name,
            tag,
            start_ms=None if since_ms is None else since_ms + 1,
            end_ms=None if before_ms is None else before_ms - 1,
            limit=page + 1,
            digest=digest,
            newest_first=True,
            with_previous=with_previous,
        )
        if len(records) > page:
            # The next page holds records strictly older than the last one returned.
            return HistoryPage(records[:page], records[page - 1].timestamp_ms)
        return HistoryPage(records, None)
