"""WebhookStore (``meta.webhooks``) on SQL, and the outbox write of a tag move.

``record_event`` runs in the transaction of a history record (``sql_tag_moves._record``), so an
event exists exactly when its move does. Claims are one conditional UPDATE with RETURNING,
which both SQLite and PostgreSQL make atomic: of several workers racing for a delivery, one
updates its row (PostgreSQL re-checks the lease under the row lock; SQLite writers are
serialised), the others update nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row, bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tagtrail.meta.database import Database
from tagtrail.meta.schema import repositories, webhook_deliveries, webhook_events, webhooks
from tagtrail.meta.sql_base import SqlStoreBase
from tagtrail.meta.webhooks import (
    DELIVERED,
    FAILED,
    PENDING,
    Claimed,
    Delivery,
    Event,
    State,
    WebhookRecord,
    wants,
)

# Built once: every tag move reads the webhooks (a handful of rows, none on most registries).
_FILTERS = select(webhooks.c.id, webhooks.c.repos, webhooks.c.actions).order_by(webhooks.c.id)
_REPO_NAME = select(repositories.c.name).where(repositories.c.id == bindparam("repo"))
_EVENT = webhook_events.insert().values(
    id=bindparam("id"),
    repository_id=bindparam("repo"),
    tag=bindparam("tag"),
    ts_ms=bindparam("ts"),
    event=bindparam("event"),
    action=bindparam("action"),
    actor=bindparam("actor"),
    digest=bindparam("digest"),
    previous=bindparam("previous"),
    media_type=bindparam("media_type"),
    size=bindparam("size"),
)
_DELIVERY = webhook_deliveries.insert().values(
    webhook_id=bindparam("webhook"),
    event_id=bindparam("event_id"),
    repository_id=bindparam("repo"),
    tag=bindparam("tag"),
    state=PENDING,
    attempts=0,
    since_ms=bindparam("ts"),
    next_attempt_ms=bindparam("ts"),
)


async def record_event(db: Database, conn: AsyncConnection, record: dict[str, Any]) -> None:
    """The outbox write of one history ``record`` (``sql_tag_moves._record``'s dict): an event
    and a pending delivery for each webhook that wants it; nothing when none does."""
    hooks = await db.all(conn, _FILTERS, {})
    if not hooks:
        return
    action = record["action"]
    name: str | None = None
    wanted = []
    for webhook_id, repos, actions in hooks:
        if repos is not None and name is None:
            row = await db.first(conn, _REPO_NAME, {"repo": record["repo"]})
            name = "" if row is None else str(row[0])
        if wants(repos, _actions(actions), name or "", action):
            wanted.append(webhook_id)
    if not wanted:
        return
    event_id = str(uuid.uuid4())
    values = {key: record[key] for key in ("repo", "tag", "ts", "event", "action", "actor")}
    await db.run(
        conn,
        _EVENT,
        {
            **values,
            "id": event_id,
            "digest": record["digest"],
            # None for a new tag; for a deletion, the digest it pointed at (as its record's).
            "previous": record["previous"],
            "media_type": record["media_type"],
            "size": record["size"],
        },
    )
    for webhook_id in wanted:
        await db.run(
            conn,
            _DELIVERY,
            {
                "webhook": webhook_id,
                "event_id": event_id,
                "repo": record["repo"],
                "tag": record["tag"],
                "ts": record["ts"],
            },
        )


def _actions(stored: str | None) -> tuple[str, ...] | None:
    return None if stored is None else tuple(stored.split(","))


_d = webhook_deliveries.c
_DETAILS = (
    select(
        webhook_deliveries,
        webhook_events.c.ts_ms,
        webhook_events.c.event,
        webhook_events.c.action,
        webhook_events.c.actor,
        webhook_events.c.digest,
        webhook_events.c.previous,
        webhook_events.c.media_type,
        webhook_events.c.size,
        repositories.c.name.label("repository"),
    )
    .join(webhook_events, webhook_events.c.id == _d.event_id)
    .join(repositories, repositories.c.id == _d.repository_id)
)


class SqlWebhookStore(SqlStoreBase):
    """WebhookStore: subscribers, deliveries and their leases."""

    async def add_webhook(self, webhook: WebhookRecord) -> int:
        async with self._write() as conn:
            result = await conn.execute(
                webhooks.insert()
                .values(
                    url=webhook.url,
                    format=webhook.format,
                    secret_sealed=webhook.secret_sealed,
                    repos=webhook.repos,
                    actions=None if webhook.actions is None else ",".join(webhook.actions),
                    created_ms=webhook.created_ms,
                )
                .returning(webhooks.c.id)
            )
            return int(result.scalar_one())

    async def list_webhooks(self) -> list[WebhookRecord]:
        async with self._read() as conn:
            rows = (await conn.execute(select(webhooks).order_by(webhooks.c.id))).all()
        return [_webhook(row) for row in rows]

    async def remove_webhook(self, webhook_id: int) -> bool:
        async with self._write() as conn:
            await conn.execute(delete(webhook_deliveries).where(_d.webhook_id == webhook_id))
            result = await conn.execute(delete(webhooks).where(webhooks.c.id == webhook_id))
            # Events no other webhook still has a delivery of are of no use to anyone.
            await conn.execute(
                delete(webhook_events).where(
                    webhook_events.c.id.not_in(select(_d.event_id).distinct())
                )
            )
        return bool(result.rowcount)

    async def deliveries(
        self, webhook_id: int, *, failed_only: bool = False, limit: int = 1000
    ) -> list[Delivery]:
        query = _DETAILS.where(_d.webhook_id == webhook_id)
        if failed_only:
            query = query.where(_d.state == FAILED)
        async with self._read() as conn:
            rows = (await conn.execute(query.order_by(_d.id.desc()).limit(limit))).all()
        return [_delivery(row) for row in rows]

    async def redeliver(self, delivery_id: int, now_ms: int) -> bool:
        async with self._write() as conn:
            result = await conn.execute(
                update(webhook_deliveries)
                .where(_d.id == delivery_id)
                .values(
                    state=PENDING,
                    attempts=0,
                    since_ms=now_ms,
                    next_attempt_ms=now_ms,
                    done_ms=None,
                    lease_owner=None,
                    lease_until_ms=None,
                )
            )
        return bool(result.rowcount)

    async def claim_deliveries(
        self, owner: str, now_ms: int, lease_ms: int, limit: int
    ) -> list[Claimed]:
        free = or_(_d.lease_until_ms.is_(None), _d.lease_until_ms <= now_ms)
        earlier = webhook_deliveries.alias("earlier")
        waits = (
            select(earlier.c.id)
            .where(
                earlier.c.webhook_id == _d.webhook_id,
                earlier.c.repository_id == _d.repository_id,
                earlier.c.tag == _d.tag,
                earlier.c.state == PENDING,
                earlier.c.id < _d.id,
            )
            .exists()
        )
        due = (
            select(_d.id)
            .where(_d.state == PENDING, _d.next_attempt_ms <= now_ms, free, ~waits)
            .order_by(_d.id)
            .limit(limit)
        )
        # Looked for in a read first: the loops of every worker ask twice a second, and an
        # idle registry should not take the write lock (SQLite) for nothing.
        async with self._read() as conn:
            ids = list((await conn.scalars(due)).all())
        if not ids:
            return []
        async with self._write(durable=False) as conn:
            taken = await conn.execute(
                update(webhook_deliveries)
                .where(_d.id.in_(ids), _d.state == PENDING, free)
                .values(lease_owner=owner, lease_until_ms=now_ms + lease_ms)
                .returning(_d.id)
            )
            mine = [row[0] for row in taken]
            if not mine:
                return []
            rows = (await conn.execute(_DETAILS.where(_d.id.in_(mine)).order_by(_d.id))).all()
            hooks = {
                row.id: _webhook(row)
                for row in await conn.execute(
                    select(webhooks).where(webhooks.c.id.in_({r.webhook_id for r in rows}))
                )
            }
        return [Claimed(_delivery(row), hooks[row.webhook_id]) for row in rows]

    async def finish_delivery(
        self,
        delivery_id: int,
        owner: str,
        *,
        state: State,
        now_ms: int,
        next_attempt_ms: int,
        status: int | None,
        error: str | None,
    ) -> bool:
        # Not durable: a power cut that loses this write costs a second delivery of an event
        # (at least once), never a lost one.
        async with self._write(durable=False) as conn:
            result = await conn.execute(
                update(webhook_deliveries)
                .where(_d.id == delivery_id, _d.lease_owner == owner)
                .values(
                    state=state,
                    attempts=_d.attempts + 1,
                    next_attempt_ms=next_attempt_ms,
                    last_status=status,
                    last_error=None if error is None else error[:1000],
                    done_ms=now_ms if state in (DELIVERED, FAILED) else None,
                    lease_owner=None,
                    lease_until_ms=None,
                )
            )
        return bool(result.rowcount)


def _webhook(row: Row[Any]) -> WebhookRecord:
    return WebhookRecord(
        url=row.url,
        format=row.format,
        secret_sealed=row.secret_sealed,
        repos=row.repos,
        actions=_actions(row.actions),
        id=int(row.id),
        created_ms=int(row.created_ms),
    )


def _delivery(row: Row[Any]) -> Delivery:
    event = Event(
        id=row.event_id,
        repository=row.repository,
        tag=row.tag,
        timestamp_ms=int(row.ts_ms),
        event=row.event,
        action=row.action,
        actor=row.actor,
        digest=row.digest,
        previous=row.previous,
        media_type=row.media_type,
        size=int(row.size),
    )
    return Delivery(
        id=int(row.id),
        webhook_id=int(row.webhook_id),
        event=event,
        state=row.state,
        attempts=int(row.attempts),
        since_ms=int(row.since_ms),
        next_attempt_ms=int(row.next_attempt_ms),
        last_status=row.last_status,
        last_error=row.last_error,
        done_ms=row.done_ms,
    )
