"""Recording tag moves: the part of a manifest PUT (and of a tag or manifest delete) that history
adds, in the caller's transaction.

A tag's records have strictly increasing timestamps, even when two moves land in the same
millisecond, so that history pages exactly. Every function here runs with the tag's lock held
(``Database.lock(conn, "tag", repo_id, tag)``), which is what makes read-then-write safe.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tagtrail import metrics
from tagtrail.errors import TagImmutable
from tagtrail.meta.database import Database
from tagtrail.meta.schema import manifests, tag_history, tags
from tagtrail.meta.sql_webhooks import record_event
from tagtrail.types import Digest, Manifest, MoveBy, Tag, TagMove

# Built once (hot path: every tagged manifest PUT), as the reads of sql_repositories are.
_LAST_TIMESTAMP = select(func.max(tag_history.c.ts_ms)).where(
    tag_history.c.repository_id == bindparam("repo"), tag_history.c.tag == bindparam("tag")
)
# Where the tag points now and its last record's timestamp, in one round trip.
_TAG_STATE = select(
    select(tags.c.digest)
    .where(tags.c.repository_id == bindparam("repo"), tags.c.name == bindparam("tag"))
    .scalar_subquery()
    .label("digest"),
    _LAST_TIMESTAMP.scalar_subquery().label("last"),
)
_TAG_INSERT = tags.insert().values(
    repository_id=bindparam("repo"),
    name=bindparam("tag"),
    digest=bindparam("digest"),
    updated_ms=bindparam("ts"),
)
_TAG_UPDATE = (
    update(tags)
    .where(tags.c.repository_id == bindparam("repo"), tags.c.name == bindparam("tag"))
    .values(digest=bindparam("digest"), updated_ms=bindparam("ts"))
)
_RECORD = tag_history.insert().values(
    repository_id=bindparam("repo"),
    tag=bindparam("tag"),
    ts_ms=bindparam("ts"),
    digest=bindparam("digest"),
    event=bindparam("event"),
    media_type=bindparam("media_type"),
    size=bindparam("size"),
    action=bindparam("action"),
    actor=bindparam("actor"),
    previous_check_ms=bindparam("previous_check_ms"),
)


async def point_tag(
    db: Database,
    conn: AsyncConnection,
    repo_id: int,
    tag: Tag,
    manifest: Manifest,
    by: MoveBy,
) -> TagMove:
    """Point ``tag`` at ``manifest`` (stored already), recording the move unless it points
    there already. Takes the tag's lock. ``by`` says who and how (``types.MoveBy``); with its
    ``rule`` set, a tag that exists and points elsewhere is not moved (``TagImmutable``)."""
    await db.lock(conn, "tag", repo_id, tag)
    state = await db.first(conn, _TAG_STATE, {"repo": repo_id, "tag": tag})
    current, last = state if state is not None else (None, None)
    new_digest = str(manifest.digest)
    if current == new_digest:
        return TagMove(tag, manifest.digest, moved=False)
    if current is not None and by.rule is not None:
        raise _immutable(tag, by.rule, current)
    ts = await _next_timestamp(db, conn, last)
    moved = {"repo": repo_id, "tag": tag, "digest": new_digest, "ts": ts}
    await db.run(conn, _TAG_INSERT if current is None else _TAG_UPDATE, moved)
    await _record(
        db,
        conn,
        {
            "repo": repo_id,
            "tag": tag,
            "ts": ts,
            "digest": new_digest,
            "event": "created",
            "media_type": manifest.media_type,
            "size": manifest.size,
            "action": by.action,
            "actor": by.actor,
            "previous_check_ms": by.previous_check_ms,
            "previous": current,
        },
    )
    return TagMove(tag, Digest.parse(current) if current else None, moved=True)


async def untag(
    db: Database,
    conn: AsyncConnection,
    repo_id: int,
    tag: str,
    digest: str,
    by: MoveBy,
) -> None:
    """Delete ``tag`` (pointing at ``digest``), recording the deletion. The caller holds the
    tag's lock. With ``by.rule`` set nothing is deleted (``TagImmutable``)."""
    if by.rule is not None:
        raise _immutable(tag, by.rule, digest)
    described = (
        await conn.execute(
            select(manifests.c.media_type, manifests.c.size).where(
                manifests.c.repository_id == repo_id, manifests.c.digest == digest
            )
        )
    ).first()
    media_type, size = (described.media_type, described.size) if described else ("", 0)
    last = await conn.scalar(_LAST_TIMESTAMP, {"repo": repo_id, "tag": tag})
    ts = await _next_timestamp(db, conn, last)
    await conn.execute(delete(tags).where(tags.c.repository_id == repo_id, tags.c.name == tag))
    await _record(
        db,
        conn,
        {
            "repo": repo_id,
            "tag": tag,
            "ts": ts,
            "digest": digest,
            "event": "deleted",
            "media_type": media_type,
            "size": int(size),
            "action": by.action,
            "actor": by.actor,
            "previous_check_ms": by.previous_check_ms,
            "previous": digest,
        },
    )


def _immutable(tag: str, rule: str, current: str) -> TagImmutable:
    return TagImmutable(
        f"tag {tag} is immutable (rule {rule})",
        detail={"tag": tag, "rule": rule, "digest": current},
    )


async def _next_timestamp(db: Database, conn: AsyncConnection, last: int | None) -> int:
    """Now on the database's clock, or one millisecond after the tag's ``last`` record
    when that clock has not moved past it (or a replica's clock ran ahead): timestamps of
    one tag are strictly increasing, so they page exactly. The caller holds the tag's
    lock, and read ``last`` under it."""
    current = await db.clock_ms(conn)
    return current if last is None or current > last else int(last) + 1


async def _record(db: Database, conn: AsyncConnection, record: dict[str, Any]) -> None:
    """Write one history record: the one place they are written (``record["previous"]``, the
    digest the tag pointed at before, is not a column: it is for what else the move writes).
    Its webhook event goes in the same transaction (the outbox: a crash loses neither)."""
    await db.run(conn, _RECORD, {k: v for k, v in record.items() if k != "previous"})
    metrics.HISTORY_RECORDS.labels(record["event"]).inc()
    await record_event(db, conn, record)
