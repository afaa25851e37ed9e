"""The mirror store on the same SQLAlchemy database as the account store."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from tagtrail.accounts import Visibility
from tagtrail.clock import now_ms
from tagtrail.errors import Conflict
from tagtrail.meta.credentials import CredentialBox
from tagtrail.meta.database import Database
from tagtrail.meta.mirrors import MirrorRecord
from tagtrail.meta.schema import mirrors, organisations, repositories


class SqlMirrorStore:
    def __init__(self, database: Database, box: CredentialBox | None) -> None:
        """``box`` None: no credential key at hand (the API workers, which only refuse pushes);
        then only ``mirror_upstreams`` and the writes without a password work."""
        self._db = database
        self._box = box

    def _key(self) -> CredentialBox:
        if self._box is None:
            raise RuntimeError("this mirror store has no credential key")
        return self._box

    def _sealed(self, mirror: MirrorRecord) -> str | None:
        return None if mirror.password is None else self._key().seal(mirror.password)

    async def mirror_upstreams(self) -> dict[str, str]:
        async with self._db.read() as conn:
            rows = (await conn.execute(select(mirrors.c.prefix, mirrors.c.url))).all()
        return {row.prefix: row.url for row in rows}

    async def add_mirror(self, mirror: MirrorRecord) -> None:
        # One transaction: no push can land a repository between the check and the insert
        # that would then be served as the upstream's.
        try:
            async with self._db.write() as conn:
                under = func.substr(repositories.c.name, 1, len(mirror.prefix) + 1)
                held = await conn.scalar(select(func.count()).where(under == f"{mirror.prefix}/"))
                if held:
                    raise Conflict(
                        f"{mirror.prefix} already holds {held} repositories: a mirror's prefix "
                        "holds only what its upstream serves"
                    )
                org = await conn.scalar(
                    select(organisations.c.id).where(organisations.c.name == mirror.prefix)
                )
                if org is None:
                    await conn.execute(
                        organisations.insert().values(
                            name=mirror.prefix,
                            visibility=str(Visibility.parse("private")),
                            created_ms=now_ms(),
                        )
                    )
                await conn.execute(
                    mirrors.insert().values(
                        prefix=mirror.prefix,
                        url=mirror.url,
                        username=mirror.username,
                        password_sealed=self._sealed(mirror),
                        check_interval_s=mirror.check_interval_s,
                        status=mirror.status,
                        created_ms=now_ms(),
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"{mirror.prefix} is a mirror already") from exc

    async def update_mirror(self, mirror: MirrorRecord) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(
                update(mirrors)
                .where(mirrors.c.prefix == mirror.prefix)
                .values(
                    url=mirror.url,
                    username=mirror.username,
                    password_sealed=self._sealed(mirror),
                    check_interval_s=mirror.check_interval_s,
                    status=mirror.status,
                )
            )
            return bool(result.rowcount)

    async def get_mirror(self, prefix: str) -> MirrorRecord | None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(mirrors).where(mirrors.c.prefix == prefix))).first()
        return None if row is None else self._record(row)

    async def list_mirrors(self) -> list[MirrorRecord]:
        async with self._db.read() as conn:
            rows = (await conn.execute(select(mirrors).order_by(mirrors.c.prefix))).all()
        return [self._record(row) for row in rows]

    async def remove_mirror(self, prefix: str) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(delete(mirrors).where(mirrors.c.prefix == prefix))
            return bool(result.rowcount)

    async def set_mirror_status(self, prefix: str, status: str) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(
                update(mirrors).where(mirrors.c.prefix == prefix).values(status=status)
            )
            return bool(result.rowcount)

    async def change_mirror_status(self, prefix: str, status: str) -> bool:
        # One conditional UPDATE: of racing writers, the row lock lets one see the old status.
        async with self._db.write() as conn:
            result = await conn.execute(
                update(mirrors)
                .where(mirrors.c.prefix == prefix, mirrors.c.status != status)
                .values(status=status)
            )
            return bool(result.rowcount)

    def _record(self, row: Row[Any]) -> MirrorRecord:
        sealed = row.password_sealed
        return MirrorRecord(
            prefix=row.prefix,
            url=row.url,
            username=row.username,
            password=None if sealed is None else self._key().open(sealed),
            check_interval_s=row.check_interval_s,
            status=row.status,
            created_ms=row.created_ms,
        )
