"""The account store on the same SQLAlchemy database as the metadata store."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Row, Select, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tagtrail.accounts import (
    OrganisationRecord,
    PullTokenRecord,
    Role,
    UserRecord,
    Visibility,
    organisation_of,
)
from tagtrail.clock import now_ms
from tagtrail.errors import Conflict, NotFound
from tagtrail.meta.database import Database
from tagtrail.meta.schema import (
    memberships,
    organisations,
    pull_tokens,
    repository_settings,
    users,
)


class SqlAccountStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    # Users ----------------------------------------------------------------------------------

    async def add_user(self, name: str, password_hash: str, is_admin: bool) -> None:
        try:
            async with self._db.write() as conn:
                await conn.execute(
                    users.insert().values(
                        name=name,
                        password_hash=password_hash,
                        is_admin=is_admin,
                        created_ms=now_ms(),
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"user {name} already exists") from exc

    async def get_user(self, name: str) -> UserRecord | None:
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(users.c.name, users.c.password_hash, users.c.is_admin).where(
                        users.c.name == name
                    )
                )
            ).first()
        return None if row is None else UserRecord(row.name, row.password_hash, bool(row.is_admin))

    async def set_password(self, name: str, password_hash: str) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(
                update(users).where(users.c.name == name).values(password_hash=password_hash)
            )
            return bool(result.rowcount)

    async def remove_user(self, name: str) -> bool:
        async with self._db.write() as conn:
            user_id = await conn.scalar(select(users.c.id).where(users.c.name == name))
            if user_id is None:
                return False
            await conn.execute(delete(memberships).where(memberships.c.user_id == user_id))
            await conn.execute(delete(users).where(users.c.id == user_id))
            return True

    async def list_users(self) -> list[UserRecord]:
        async with self._db.read() as conn:
            rows = (
                await conn.execute(
                    select(users.c.name, users.c.password_hash, users.c.is_admin).order_by(
                        users.c.name
                    )
                )
            ).all()
        return [UserRecord(r.name, r.password_hash, bool(r.is_admin)) for r in rows]

    # Organisations --------------------------------------------------------------------------

    async def _org_id(self, conn: AsyncConnection, name: str) -> int:
        found = await conn.scalar(select(organisations.c.id).where(organisations.c.name == name))
        if found is None:
            raise NotFound(f"organisation {name} does not exist")
        return int(found)

    async def add_organisation(self, name: str, visibility: Visibility) -> None:
        try:
            async with self._db.write() as conn:
                await conn.execute(
                    organisations.insert().values(
                        name=name, visibility=str(visibility), created_ms=now_ms()
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"organisation {name} already exists") from exc

    async def get_organisation(self, name: str) -> OrganisationRecord | None:
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(organisations.c.id, organisations.c.visibility).where(
                        organisations.c.name == name
                    )
                )
            ).first()
            if row is None:
                return None
            members = (
                await conn.execute(
                    select(users.c.name, memberships.c.role)
                    .select_from(memberships.join(users, users.c.id == memberships.c.user_id))
                    .where(memberships.c.organisation_id == row.id)
                    .order_by(users.c.name)
                )
            ).all()
        return OrganisationRecord(
            name, Visibility.parse(row.visibility), {m.name: m.role for m in members}
        )

    async def list_organisations(self) -> list[OrganisationRecord]:
        async with self._db.read() as conn:
            orgs = (
                await conn.execute(
                    select(
                        organisations.c.id, organisations.c.name, organisations.c.visibility
                    ).order_by(organisations.c.name)
                )
            ).all()
            members = (
                await conn.execute(
                    select(memberships.c.organisation_id, users.c.name, memberships.c.role)
                    .select_from(memberships.join(users, users.c.id == memberships.c.user_id))
                    .order_by(users.c.name)
                )
            ).all()
        by_org: dict[int, dict[str, str]] = {}
        for m in members:
            by_org.setdefault(m.organisation_id, {})[m.name] = m.role
        return [
            OrganisationRecord(o.name, Visibility.parse(o.visibility), by_org.get(o.id, {}))
            for o in orgs
        ]

    async def remove_organisation(self, name: str) -> tuple[int, int] | None:
        """Remove the organisation with its memberships and pull tokens: how many of each went,
        None when there is no such organisation. Its repositories, and their settings, stay."""
        async with self._db.write() as conn:
            org_id = await conn.scalar(
                select(organisations.c.id).where(organisations.c.name == name)
            )
            if org_id is None:
                return None
            members = await conn.execute(
                delete(memberships).where(memberships.c.organisation_id == org_id)
            )
            tokens = await conn.execute(
                delete(pull_tokens).where(pull_tokens.c.organisation_id == org_id)
            )
            await conn.execute(delete(organisations).where(organisations.c.id == org_id))
            return members.rowcount, tokens.rowcount

    async def set_organisation_visibility(self, name: str, visibility: Visibility) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(
                update(organisations)
                .where(organisations.c.name == name)
                .values(visibility=str(visibility))
            )
            return bool(result.rowcount)

    async def set_member(self, organisation: str, user: str, role: Role) -> None:
        async with self._db.write() as conn:
            org_id = await self._org_id(conn, organisation)
            user_id = await conn.scalar(select(users.c.id).where(users.c.name == user))
            if user_id is None:
                raise NotFound(f"user {user} does not exist")
            await conn.execute(
                self._db.insert(memberships)
                .values(organisation_id=org_id, user_id=user_id, role=role)
                .on_conflict_do_update(
                    index_elements=["organisation_id", "user_id"], set_={"role": role}
                )
            )

    async def remove_member(self, organisation: str, user: str) -> bool:
        async with self._db.write() as conn:
            org_id = await self._org_id(conn, organisation)
            user_id = select(users.c.id).where(users.c.name == user).scalar_subquery()
            result = await conn.execute(
                delete(memberships).where(
                    memberships.c.organisation_id == org_id, memberships.c.user_id == user_id
                )
            )
            return bool(result.rowcount)

    async def role_of(self, organisation: str, user: str) -> Role | None:
        async with self._db.read() as conn:
            role = await conn.scalar(
                select(memberships.c.role)
                .select_from(
                    memberships.join(users, users.c.id == memberships.c.user_id).join(
                        organisations, organisations.c.id == memberships.c.organisation_id
                    )
                )
                .where(organisations.c.name == organisation, users.c.name == user)
            )
        return None if role is None else cast(Role, role)

    # Visibility -----------------------------------------------------------------------------

    async def set_repository_visibility(self, name: str, visibility: Visibility) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                self._db.insert(repository_settings)
                .values(name=name, visibility=str(visibility))
                .on_conflict_do_update(
                    index_elements=["name"], set_={"visibility": str(visibility)}
                )
            )

    async def repository_visibility(self, name: str) -> Visibility | None:
        async with self._db.read() as conn:
            own = await conn.scalar(
                select(repository_settings.c.visibility).where(repository_settings.c.name == name)
            )
            if own is not None:
                return Visibility.parse(own)
            inherited = await conn.scalar(
                select(organisations.c.visibility).where(
                    organisations.c.name == organisation_of(name)
                )
            )
        return None if inherited is None else Visibility.parse(inherited)

    # Pull tokens ----------------------------------------------------------------------------

    async def add_pull_token(self, token: PullTokenRecord) -> None:
        async with self._db.write() as conn:
            org_id = await self._org_id(conn, token.organisation)
            await conn.execute(
                pull_tokens.insert().values(
                    id=token.id,
                    organisation_id=org_id,
                    secret_sha256=token.secret_sha256,
                    can_push=token.can_push,
                    expires_ms=token.expires_ms,
                    revoked_ms=token.revoked_ms,
                    description=token.description,
                    created_ms=token.created_ms,
                )
            )

    def _token_query(self) -> Select[Any]:
        return select(
            pull_tokens.c.id,
            organisations.c.name.label("organisation"),
            pull_tokens.c.secret_sha256,
            pull_tokens.c.can_push,
            pull_tokens.c.expires_ms,
            pull_tokens.c.revoked_ms,
            pull_tokens.c.description,
            pull_tokens.c.created_ms,
        ).select_from(
            pull_tokens.join(organisations, organisations.c.id == pull_tokens.c.organisation_id)
        )

    async def get_pull_token(self, token_id: str) -> PullTokenRecord | None:
        async with self._db.read() as conn:
            row = (
                await conn.execute(self._token_query().where(pull_tokens.c.id == token_id))
            ).first()
        return None if row is None else _token(row)

    async def list_pull_tokens(self, organisation: str | None) -> list[PullTokenRecord]:
        query = self._token_query().order_by(pull_tokens.c.created_ms, pull_tokens.c.id)
        if organisation is not None:
            query = query.where(organisations.c.name == organisation)
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [_token(r) for r in rows]

    async def revoke_pull_token(self, token_id: str, when_ms: int) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(
                update(pull_tokens)
                .where(pull_tokens.c.id == token_id, pull_tokens.c.revoked_ms.is_(None))
                .values(revoked_ms=when_ms)
            )
            return bool(result.rowcount)


def _token(row: Row[Any]) -> PullTokenRecord:
    return PullTokenRecord(
        id=row.id,
        organisation=row.organisation,
        secret_sha256=row.secret_sha256,
        can_push=bool(row.can_push),
        expires_ms=row.expires_ms,
        revoked_ms=row.revoked_ms,
        description=row.description,
        created_ms=row.created_ms,
    )
