"""UploadStore on SQL: the sessions of blob uploads in progress.

Keyed by repository name, not id: an upload alone does not create a repository. Offsets are
bookkeeping a power failure may lose (the client retries), so their writes skip the fsync.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select, update

from tagtrail.clock import now_ms
from tagtrail.errors import TooManyRequests
from tagtrail.meta.schema import uploads
from tagtrail.meta.sql_base import SqlStoreBase
from tagtrail.types import RepoName, UploadSession


class SqlUploadStore(SqlStoreBase):
    """UploadStore (``meta.store``)."""

    async def create_upload(
        self, name: RepoName, upload_id: str, *, limit: int | None = None, since_ms: int = 0
    ) -> UploadSession:
        started = now_ms()
        async with self._write(durable=False) as conn:
            if limit is not None:
                await self._db.lock(conn, "uploads", name)
                open_now = await conn.scalar(
                    select(func.count())
                    .select_from(uploads)
                    .where(uploads.c.repository == name, uploads.c.started_ms >= since_ms)
                )
                if int(open_now or 0) >= limit:
                    raise TooManyRequests(detail={"limit": limit})
            await conn.execute(
                uploads.insert().values(id=upload_id, repository=name, offset=0, started_ms=started)
            )
        return UploadSession(upload_id, name, 0, started)

    async def get_upload(self, name: RepoName, upload_id: str) -> UploadSession | None:
        async with self._read() as conn:
            row = (
                await conn.execute(
                    select(uploads.c.offset, uploads.c.started_ms).where(
                        uploads.c.id == upload_id, uploads.c.repository == name
                    )
                )
            ).first()
        if row is None:
            return None
        return UploadSession(upload_id, name, int(row.offset), int(row.started_ms))

    async def advance_upload(self, upload_id: str, expected: int, new_offset: int) -> bool:
        async with self._write(durable=False) as conn:
            result = await conn.execute(
                update(uploads)
                .where(uploads.c.id == upload_id, uploads.c.offset == expected)
                .values(offset=new_offset)
            )
            return bool(result.rowcount)

    async def delete_upload(self, upload_id: str) -> None:
        async with self._write(durable=False) as conn:
            await conn.execute(delete(uploads).where(uploads.c.id == upload_id))
