"""The schema migrated by a child interpreter, for ``tagtrail serve``'s first start.

The serving process's workers are forked from it and hold every page of what it imported, so
whatever it loads is counted once per process. A start migrates only when the schema is not
this version's (a first start, an upgrade); Alembic with the Mako and Pygments it loads is
some 10 MB, which no server needs afterwards. So the migration runs in a child that exits when
it is done, as ``tagtrail db upgrade`` would, and the server then opens the migrated database.

The database's URL (which may hold a password) goes to the child on its standard input, never
on its command line; its log lines go where the server's go; a failure comes back as one line;
it dies with the server (a ``kill -9`` of it too), as the workers do (cli/parent_death.py).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

# The child: reads the URL, migrates, prints "ok" or the one line that says why it failed.
_CHILD = "from tagtrail.cli.serve_migrate import migrate_here; migrate_here()"


class MigrationFailed(Exception):
    """The child could not migrate the schema; the message is its reason."""


async def migrate_in_child(url: str, log_level: str, log_format: str) -> None:
    """Migrate the schema at ``url`` to this version's in a child interpreter."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CHILD,
        log_level,
        log_format,
        str(os.getpid()),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    out, _ = await child.communicate(url.encode())
    said = out.decode(errors="replace").strip().splitlines()
    if child.returncode != 0 or said[-1:] != ["ok"]:
        reason = said[-1] if said else f"the migrating process ended with {child.returncode}"
        raise MigrationFailed(reason)


def migrate_here() -> None:
    """The child's side (``_CHILD``): argv is the log level, the format and the server's pid."""
    from tagtrail import logs
    from tagtrail.cli.parent_death import die_with_parent
    from tagtrail.meta.database import Database

    die_with_parent(int(sys.argv[3]))

    logs.configure(sys.argv[1], "text" if sys.argv[2] == "text" else "json")  # the server's
    url = sys.stdin.read()

    async def migrate() -> None:
        database = await Database.open(url, migrate=True)
        await database.close()

    try:
        asyncio.run(migrate())
    except Exception as exc:  # any failure is reported, as one line, by the server
        print(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, flush=True)
        sys.exit(1)
    print("ok", flush=True)
