"""``tagtrail db``: the metadata database's schema (Alembic migrations shipped inside).

``db upgrade`` is, with ``serve``, the command that may create: the SQLite file (and its
directory), or the schema in an existing PostgreSQL database (the database itself is the
DBA's to create). ``db current`` only looks.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from tagtrail.cli.common import run_on_database, settings_from, storage_options

if TYPE_CHECKING:
    from tagtrail.meta.database import Database


def register(commands: Any) -> None:
    storage = storage_options(database_url=True)
    db = commands.add_parser(
        "db",
        parents=[storage],
        help="metadata database schema",
        description="The metadata database's schema: where the settings (or --database-url) "
        "point, the SQLite file in the data directory by default.",
    )
    verbs = db.add_subparsers(dest="verb", required=True)
    verbs.add_parser(
        "upgrade",
        parents=[storage],
        help="create the schema, or migrate it to this version's",
        description="Create the schema (and the SQLite file), or migrate it to this "
        "version's. A PostgreSQL database must exist already.",
    ).set_defaults(run=run)
    verbs.add_parser(
        "current",
        parents=[storage],
        help="print the schema revision (nothing is created)",
        description="Print the schema's revision and whether it is this version's.",
    ).set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tagtrail.meta.migrate import HEAD_REVISION

    settings = settings_from(args, database_url=getattr(args, "database_url", None))
    if settings is None:
        return 2

    async def act(database: Database) -> int:
        if args.verb == "upgrade":
            before = await database.revision()
            await database.upgrade()
            print(f"schema upgraded from {before or 'nothing'} to {await database.revision()}")
        else:
            current = await database.revision()
            state = "(head)" if current == HEAD_REVISION else f"(head is {HEAD_REVISION})"
            print(f"{current or 'nothing'} {state}")
        return 0

    return run_on_database(settings, act, create=args.verb == "upgrade", schema=False)
