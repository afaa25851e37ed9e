"""``tagtrail db``: the metadata database's schema (Alembic migrations shipped inside)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tagtrail.cli.common import run_on_database, settings_from
from tagtrail.meta.database import Database
from tagtrail.meta.migrate import HEAD_REVISION


def register(commands: Any) -> None:
    db = commands.add_parser("db", help="metadata database schema")
    db.add_argument("--data-dir", type=Path, help="the server's data directory (SQLite)")
    db.add_argument("--config", type=Path, help="the server's TOML settings file")
    db.add_argument("--database-url", help="e.g. postgresql://user@host/db")
    verbs = db.add_subparsers(dest="verb", required=True)
    verbs.add_parser("upgrade", help="migrate the schema to this version's").set_defaults(run=run)
    verbs.add_parser("current", help="print the schema revision").set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args, database_url=args.database_url)
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

    return run_on_database(settings, act, migrate=False)
