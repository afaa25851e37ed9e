"""Alembic, driven from code: the migrations ship inside the package.

Alembic (with the Mako and Pygments it loads, some 10 MB a process) is loaded only to
migrate. Every start checks the schema's revision, in the serving process and in each worker:
that is read here with SQL from Alembic's own table, so checking never loads it (and a server's
first start migrates in a child process: cli/serve_migrate.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest revision, read off the file names (``NNNN_what.py``, revision "NNNN") rather than
# through Alembic's script directory, which a start would otherwise load only to learn this;
# a test checks that it is Alembic's head.
HEAD_REVISION = max(p.name[:4] for p in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
VERSION_TABLE = "alembic_version"  # Alembic's default, where it records the revision


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade_to_head(connection: Connection, revision: str = "head") -> None:
    """Bring the schema on ``connection`` up to ``revision`` (in its transaction)."""
    from alembic import command

    command.upgrade(alembic_config(connection), revision)


def current_revision(connection: Connection) -> str | None:
    """The revision Alembic recorded on ``connection``'s database; None before the first
    migration (no version table, or an empty one)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    revisions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
    # One row on a linear history; several only if someone branched it by hand.
    return ",".join(sorted(revisions)) or None
