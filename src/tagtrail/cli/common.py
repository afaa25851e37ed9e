"""What the commands that work on a server's storage share: its settings, one-line errors."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from tagtrail.config import CONFIG_ENV, Settings, load_settings
from tagtrail.errors import RegistryError
from tagtrail.meta.database import Database


def settings_from(args: argparse.Namespace, **overrides: Any) -> Settings | None:
    """Settings as ``serve`` would read them (``--config``, ``--data-dir``, environment);
    None after printing why when they are invalid."""
    if args.config is not None:
        if not args.config.is_file():
            print(f"tagtrail: config file not found: {args.config}", file=sys.stderr)
            return None
        os.environ[CONFIG_ENV] = str(args.config.resolve())
    try:
        settings = load_settings(
            data_dir=args.data_dir.resolve() if args.data_dir else None, **overrides
        )
    except ValidationError as exc:
        print(f"tagtrail: invalid settings:\n{exc}", file=sys.stderr)
        return None
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)  # SQLite creates only the file
    return settings


def run_on_database(
    settings: Settings, action: Callable[[Database], Awaitable[int]], *, migrate: bool = True
) -> int:
    """Open the metadata database, run ``action`` on it, and turn failures into one line."""

    async def main() -> int:
        database = await Database.open(settings.metadata_url, migrate=migrate)
        try:
            return await action(database)
        finally:
            await database.close()

    try:
        return asyncio.run(main())
    except RegistryError as exc:
        print(f"tagtrail: {exc.message}", file=sys.stderr)
        return 1
    except (OSError, SQLAlchemyError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"tagtrail: the database is unavailable: {reason}", file=sys.stderr)
        return 1
