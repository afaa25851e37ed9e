"""HistoryStore on SQL: reading the records of tag moves (``sql_tag_moves`` writes them)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product
from typing import Any

from sqlalchemy import bindparam, case, null, select

from tagtrail.meta.schema import manifest_refs, tag_history
from tagtrail.meta.sql_base import SqlStoreBase
from tagtrail.types import DELETED, PUSHED, Digest, HistoryRecord, RepoName, Tag

# History reads: one prebuilt statement per shape (which filters, which order), the bounds
# always bound (open ones as the extremes of a BIGINT), since building a statement per query
# cost as much as the query (profiled on a window of 100 records).
_MIN_MS, _MAX_MS = -(2**63), 2**63 - 1
_ANY_RECORD = (
    select(tag_history.c.id)
    .where(tag_history.c.repository_id == bindparam("repo"), tag_history.c.tag == bindparam("tag"))
    .limit(1)
)


# Where the tag pointed just before a record: the digest of the tag's record before it when
# that one is an assignment (after a deletion, or with none, the tag did not exist). Looked up
# per record (by the unique index on repository, tag and time) rather than taken from the
# neighbour in the page, which a ``digest`` filter or a window bound would hide.
_OLDER = tag_history.alias("older")
_PREVIOUS = (
    select(case((_OLDER.c.event == "created", _OLDER.c.digest), else_=null()))
    .where(
        _OLDER.c.repository_id == tag_history.c.repository_id,
        _OLDER.c.tag == tag_history.c.tag,
        _OLDER.c.ts_ms < tag_history.c.ts_ms,
    )
    .order_by(_OLDER.c.ts_ms.desc())
    .limit(1)
    .correlate(tag_history)
    .scalar_subquery()
)


def _history_query(by_event: bool, by_digest: bool, newest_first: bool, previous: bool) -> Any:
    ts = tag_history.c.ts_ms
    query = select(
        ts,
        tag_history.c.digest,
        tag_history.c.event,
        tag_history.c.media_type,
        tag_history.c.size,
        tag_history.c.action,
        tag_history.c.previous_check_ms,
        tag_history.c.actor,
        _PREVIOUS if previous else null(),
    ).where(
        tag_history.c.repository_id == bindparam("repo"),
        tag_history.c.tag == bindparam("tag"),
        ts >= bindparam("start"),
        ts <= bindparam("end"),
    )
    if by_event:
        query = query.where(tag_history.c.event == bindparam("event"))
    if by_digest:
        query = query.where(tag_history.c.digest == bindparam("digest"))
    return query.order_by(ts.desc() if newest_first else ts).limit(bindparam("limit"))


# Keyed by (filtered by event, filtered by digest, newest first, with the previous digest).
_HISTORY_QUERIES = {shape: _history_query(*shape) for shape in product((False, True), repeat=4)}
# What a record from before actions were kept (action NULL) did, by its event.
_UNRECORDED_ACTION = {"created": PUSHED.action, "deleted": DELETED.action}


class SqlHistoryStore(SqlStoreBase):
    """HistoryStore (``meta.store``)."""

    async def tag_has_history(self, name: RepoName, tag: Tag) -> bool:
        async with self._read() as conn:
            repo_id = await self._repo_id(conn, name)
            if repo_id is None:
                return False
            return (
                await self._db.first(conn, _ANY_RECORD, {"repo": repo_id, "tag": tag}) is not None
            )

    async def history_tags(self, name: RepoName) -> list[str]:
        async with self._read() as conn:
            repo_id = await self._repo_id(conn, name)
            if repo_id is None:
                return []
            query = select(tag_history.c.tag).where(tag_history.c.repository_id == repo_id)
            return list((await conn.scalars(query.distinct().order_by(tag_history.c.tag))).all())

    async def reachable_from_tags(
        self, name: RepoName, tags: Sequence[str], digest: Digest
    ) -> bool:
        if not tags:
            return False
        async with self._read() as conn:
            repo_id = await self._repo_id(conn, name)
            if repo_id is None:
                return False
            roots = select(tag_history.c.digest.label("digest")).where(
                tag_history.c.repository_id == repo_id, tag_history.c.tag.in_(list(tags))
            )
            closure = roots.cte("closure", recursive=True)
            # UNION (not UNION ALL) drops repeats, so a cycle cannot recurse forever.
            closure = closure.union(
                select(manifest_refs.c.child_digest).where(
                    manifest_refs.c.repository_id == repo_id,
                    manifest_refs.c.manifest_digest == closure.c.digest,
                )
            )
            found = await conn.scalar(
                select(closure.c.digest).where(closure.c.digest == str(digest)).limit(1)
            )
            return found is not None

    async def history(
        self,
        name: RepoName,
        tag: Tag,
        *,
        start_ms: int | None,
        end_ms: int | None,
        limit: int,
        event: str | None = None,
        digest: Digest | None = None,
        newest_first: bool = False,
        with_previous: bool = False,
    ) -> list[HistoryRecord]:
        async with self._read() as conn:
            repo_id = await self._repo_id(conn, name)
            if repo_id is None:
                return []
            shape = (event is not None, digest is not None, newest_first, with_previous)
            statement = _HISTORY_QUERIES[shape]
            parameters = {
                "repo": repo_id,
                "tag": tag,
                "start": _MIN_MS if start_ms is None else start_ms,
                "end": _MAX_MS if end_ms is None else end_ms,
                "event": event,
                "digest": None if digest is None else str(digest),
                "limit": limit,
            }
            rows = await self._db.all(conn, statement, parameters)
        return [
            HistoryRecord(
                int(ts),
                Digest.stored(raw),
                kind,
                media_type,
                int(size),
                action or _UNRECORDED_ACTION[kind],
                previous_check,
                actor,
                _previous(kind, raw, before) if with_previous else None,
            )
            for ts, raw, kind, media_type, size, action, previous_check, actor, before in rows
        ]


def _previous(kind: str, digest: str, before: str | None) -> Digest | None:
    """A deletion's previous digest is its own (what the tag pointed to when deleted)."""
    if kind == "deleted":
        return Digest.stored(digest)
    return None if before is None else Digest.stored(before)
