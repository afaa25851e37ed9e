"""The metadata database's store identity: a random id created once, by migration 0003.

It is a row, so a dump restored into another database keeps it, while a new, empty database
gets an id of its own. What it guards is ``tagtrail.meta.garbage``'s to say.
"""

from __future__ import annotations

from sqlalchemy import select

from tagtrail.meta.database import Database
from tagtrail.meta.schema import store_identity


class IdentityMissing(RuntimeError):
    """The database's schema is at head but its store identity row was deleted."""


async def database_identity(database: Database) -> str:
    async with database.read() as conn:
        found = await conn.scalar(select(store_identity.c.identity))
    if found is None:
        raise IdentityMissing(
            "the database has no store identity (its store_identity table is empty): restore "
            "the row from a backup; a new id would not match the blob storage's marker"
        )
    return str(found)
