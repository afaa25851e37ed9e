"""What the commands that work on a server's storage share: its settings, where they point,
opening the database without creating it, one-line errors.

Imported to build the parsers of ``admin``, ``gc`` and ``db``: settings, SQLAlchemy and the
metadata layer load inside the functions, when a command runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tagtrail.config import Settings
    from tagtrail.meta.database import Database


def storage_options(*, database_url: bool = False) -> argparse.ArgumentParser:
    """A parent parser for every level of a storage command, so that ``--data-dir``,
    ``--config`` and ``-v`` go before or after any subcommand. Unset, they leave no attribute
    (SUPPRESS): a subcommand's default would otherwise overwrite what was given before it."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("server storage")
    group.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="the server's data directory (default: the settings', ./tagtrail-data)",
    )
    group.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="the server's TOML settings file",
    )
    if database_url:
        group.add_argument(
            "--database-url",
            metavar="URL",
            default=argparse.SUPPRESS,
            help="the metadata database, e.g. postgresql://user@host/db (default: the settings')",
        )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print which database and blob storage the command works on",
    )
    return parent


def settings_from(
    args: argparse.Namespace, *, flags: Mapping[str, str] | None = None, **overrides: Any
) -> Settings | None:
    """Settings as ``serve`` would read them (``--config``, ``--data-dir``, environment);
    None after printing why in one line when they are invalid. ``flags`` names the flag of an
    override whose name is not its field's (``--retention-days``: history_retention_days)."""
    import tomllib

    from pydantic import ValidationError

    from tagtrail.config import CONFIG_ENV, load_settings, validation_message

    config: Path | None = getattr(args, "config", None)
    if config is not None:
        if not config.is_file():
            print(f"tagtrail: config file not found: {config}", file=sys.stderr)
            return None
        os.environ[CONFIG_ENV] = str(config.resolve())
    data_dir: Path | None = getattr(args, "data_dir", None)
    try:
        settings = load_settings(data_dir=data_dir.resolve() if data_dir else None, **overrides)
    except ValidationError as exc:
        given = {k for k, v in overrides.items() if v is not None}
        named = {k: "--" + k.replace("_", "-") for k in given} | dict(flags or {})
        message = validation_message(exc, {k: v for k, v in named.items() if k in given})
        print(f"tagtrail: invalid settings: {message}", file=sys.stderr)
        return None
    except (OSError, tomllib.TOMLDecodeError) as exc:  # the TOML file: unreadable, or not TOML
        print(f"tagtrail: {os.environ.get(CONFIG_ENV)}: {exc}", file=sys.stderr)
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(settings.metadata_url)
    except ArgumentError:  # its text would repeat the URL, password and all
        print(
            "tagtrail: invalid settings: database_url is not a database URL "
            "(e.g. postgresql://user:password@host/db, sqlite:////path/tagtrail.db)",
            file=sys.stderr,
        )
        return None
    if getattr(args, "verbose", False):
        print(f"tagtrail: database: {database_of(settings)}", file=sys.stderr)
        print(f"tagtrail: blob storage: {storage_of(settings)}", file=sys.stderr)
    return settings


def storage_of(settings: Settings) -> str:
    if settings.blob_store == "s3":
        assert settings.s3 is not None  # enforced by Settings
        return f"s3://{settings.s3.bucket}/{settings.s3.prefix}"
    return str(settings.data_dir)


def database_of(settings: Settings) -> str:
    """The metadata database's URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(settings.metadata_url).render_as_string(hide_password=True)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (absolute); None for other databases. ``:memory:`` is given
    back as is: a file of that name never exists, so it reads as "no database there"."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    return Path(parsed.database or ":memory:").absolute()


class StorageMissing(Exception):
    """No database (or blob storage) where the settings point: only ``serve`` and
    ``db upgrade`` create one."""


def run_on_database(
    settings: Settings,
    action: Callable[[Database], Awaitable[int]],
    *,
    create: bool = False,
    schema: bool = True,
) -> int:
    """Open the metadata database, run ``action`` on it, and turn failures into one line.

    Nothing is created unless ``create``: a SQLite file that is not there, a PostgreSQL
    database that does not exist, or (with ``schema``) one without tagtrail's schema at this
    version's revision is an error naming the database, not a new empty one."""
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    from tagtrail.errors import RegistryError
    from tagtrail.meta.database import Database, SchemaOutdated

    where = database_of(settings)
    path = sqlite_file(settings.metadata_url)
    if path is not None and create:
        path.parent.mkdir(parents=True, exist_ok=True)

    async def main() -> int:
        if path is not None and not create and not path.is_file():
            raise StorageMissing(
                f"no database at {path}: is --data-dir (or --config) the server's? "
                "`tagtrail serve` or `tagtrail db upgrade` creates one"
            )
        database = await Database.open(settings.metadata_url, migrate=False)
        try:
            if schema and await database.revision() is None:
                raise StorageMissing(
                    f"no tagtrail schema in {where}: `tagtrail serve` or "
                    "`tagtrail db upgrade` creates it"
                )
            if schema:
                await database.require_head()
            return await action(database)
        finally:
            await database.close()

    try:
        return asyncio.run(main())
    except (StorageMissing, SchemaOutdated) as exc:
        print(f"tagtrail: {exc}", file=sys.stderr)
        return 1
    except RegistryError as exc:
        print(f"tagtrail: {exc.message}", file=sys.stderr)
        return 1
    except DBAPIError as exc:
        reason = str(exc.orig).splitlines()[0] if str(exc.orig) else type(exc.orig).__name__
        if getattr(exc.orig, "sqlstate", None) == "3D000":  # PostgreSQL: invalid catalog name
            print(f"tagtrail: no database at {where}: {reason}", file=sys.stderr)
        else:
            print(f"tagtrail: the database {where} is unavailable: {reason}", file=sys.stderr)
        return 1
    except (OSError, ImportError, SQLAlchemyError) as exc:  # ImportError: no driver installed
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"tagtrail: the database {where} is unavailable: {reason}", file=sys.stderr)
        return 1
