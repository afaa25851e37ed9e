"""``tagtrail serve``: run the registry (embedded storage unless configured otherwise).

A start checks everything it can before it answers anyone, and each failure is one line:
settings, TLS files, the address (bound here, so a busy port stops the start before the
database is touched), then the database and blob storage (cli/serve_process.py runs the
processes). The server and its libraries are imported when it runs (cli/main.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tagtrail.config import Settings
    from tagtrail.meta.database import Database


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "serve",
        help="run the registry",
        description="Run the registry. Settings: flags > TAGTRAIL_* environment > --config TOML.",
    )
    parser.add_argument("--listen", help="host:port to listen on (default 127.0.0.1:5000)")
    parser.add_argument("--data-dir", type=Path, help="embedded storage directory")
    parser.add_argument("--external-url", help="URL clients reach the registry at")
    parser.add_argument("--config", type=Path, help="TOML settings file")
    parser.add_argument("--workers", type=int, help="server worker processes")
    parser.add_argument(
        "--auth",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="require tokens (default on); --no-auth serves everyone everything",
    )
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate chain: serve HTTPS")
    parser.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    parser.add_argument(
        "--protect-history",
        action="store_true",
        default=None,
        help="refuse deleting manifests that a tag history names",
    )
    parser.set_defaults(run=run)


def _export(settings: Settings) -> None:
    """Workers are separate processes: hand them the resolved settings via the environment,
    secrets as they are (the admin password is bootstrap's alone)."""
    from tagtrail.config import REVEAL

    exported = settings.model_dump(
        mode="json", exclude_none=True, exclude={"admin_password"}, context=REVEAL
    )
    for field, value in exported.items():
        text = value if isinstance(value, str) else json.dumps(value)
        os.environ[f"TAGTRAIL_{field.upper()}"] = text


def run(args: argparse.Namespace) -> int:
    from tagtrail.cli.common import settings_from
    from tagtrail.cli.serve_process import bind, metrics_directory, serve, why
    from tagtrail.cli.serve_tls import tls_problem

    settings = settings_from(
        args,
        listen=args.listen,
        external_url=args.external_url,
        workers=args.workers,
        protect_history=args.protect_history,
        auth=args.auth,
        tls_cert=args.tls_cert.resolve() if args.tls_cert else None,
        tls_key=args.tls_key.resolve() if args.tls_key else None,
    )
    if settings is None:
        return 2
    if (settings.tls_cert is None) != (settings.tls_key is None):
        print("tagtrail: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    if settings.tls_cert is not None and settings.tls_key is not None:
        problem = tls_problem(settings.tls_cert, settings.tls_key)
        if problem is not None:
            print(f"tagtrail: {problem}", file=sys.stderr)
            return 1
    try:
        listener = bind(settings)
    except OSError as exc:
        print(f"tagtrail: cannot listen on {settings.listen}: {why(exc)}", file=sys.stderr)
        return 1
    # The metrics directory before the bootstrap: it imports what imports prometheus_client.
    # (the listener is closed on every way out; each worker holds its own copy)
    with listener, metrics_directory():
        # Port 0 asks the kernel for a free port: name the one it gave, to the workers too.
        port = listener.getsockname()[1]
        listen = settings.listen.rpartition(":")[0] + f":{port}"
        settings = settings.model_copy(
            update={"data_dir": settings.data_dir.resolve(), "listen": listen}
        )
        problem = _prepare(settings)
        if problem is not None:
            print(problem, file=sys.stderr)
            return 1
        _export(settings)
        scheme = "https" if settings.tls_cert else "http"
        url = settings.external_url or f"{scheme}://{settings.listen}"
        print(f"tagtrail listening on {url} (data in {settings.data_dir})", flush=True)
        serve(settings, listener)
    return 0


def _prepare(settings: Settings) -> str | None:
    """Run ``bootstrap``; the line that says why it failed, or None."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    from tagtrail.cli.serve_migrate import MigrationFailed
    from tagtrail.cli.store_check import StorageUnavailable, refusal
    from tagtrail.errors import RegistryError
    from tagtrail.meta.database import SchemaOutdated
    from tagtrail.meta.store_identity import IdentityMissing
    from tagtrail.registry.store_guard import StoreMismatch
    from tagtrail.ui.session import KeyFileInvalid

    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        asyncio.run(bootstrap(settings))
    except StoreMismatch as exc:
        return refusal(exc, settings, "refusing to start")
    except DatabaseUnavailable as exc:
        cause = exc.__cause__
        if isinstance(cause, DBAPIError):
            cause = cause.orig  # the driver's own words, not SQLAlchemy's three lines
        reason = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        where = make_url(settings.metadata_url).render_as_string(hide_password=True)
        return f"tagtrail: cannot use the database {where}: {reason}"
    except MigrationFailed as exc:
        return f"tagtrail: migrating the database failed: {exc}"
    except (SchemaOutdated, IdentityMissing, StorageUnavailable, KeyFileInvalid, OSError) as exc:
        return f"tagtrail: {exc}"
    except RegistryError as exc:  # a [[mirrors]] table that cannot be registered
        return f"tagtrail: {exc.message}"
    except SQLAlchemyError as exc:  # the database failed after it was opened
        return f"tagtrail: the database failed: {str(exc).splitlines()[0]}"
    return None


class DatabaseUnavailable(Exception):
    """Opening the metadata database failed (its cause says why): not there, unreachable,
    refused the login."""


async def bootstrap(settings: Settings) -> None:
    """Before the workers start: migrate, check the blob storage belongs to the database (or
    mark it as the database's, the first time), create the UI's session key, the signing key
    and, with auth and no admin yet (the first start), the admin user. Runs once the address
    is bound, so that its generated password, printed this once, is never printed by a start
    that then fails to listen (and it is printed as soon as it is committed)."""
    from tagtrail.auth.keys import KeyRing
    from tagtrail.auth.secrets import generate_password, hash_password
    from tagtrail.cli.mirror_actions import configured_mirrors, register_configured
    from tagtrail.cli.store_check import claim_storage
    from tagtrail.meta.sql_accounts import SqlAccountStore
    from tagtrail.ui.session import load_keys

    configured_mirrors(settings)  # a [[mirrors]] table that cannot be registered stops us first
    load_keys(settings.keys_dir)  # the UI's session keys (auth or not): a bad file stops us first
    database = await _open_migrated(settings)
    try:
        await database.require_head()
        await claim_storage(database, settings)
        await register_configured(database, settings)
        if not settings.auth:
            return
        KeyRing.load(settings.keys_dir, settings.token_key, tuple(settings.token_verify_keys))
        accounts = SqlAccountStore(database)
        if not any(user.is_admin for user in await accounts.list_users()):
            given = settings.admin_password
            password = given.get_secret_value() if given else generate_password()
            await accounts.add_user("admin", hash_password(password), is_admin=True)
            if given:
                print(
                    "created user admin with the password from TAGTRAIL_ADMIN_PASSWORD", flush=True
                )
            else:
                print(
                    f"created user admin; its password (shown only this once): {password}",
                    flush=True,
                )
    finally:
        await database.close()


async def _open_migrated(settings: Settings) -> Database:
    """The database, its schema migrated first when it is behind and the settings allow it:
    by a child process (cli/serve_migrate.py), so that this one never loads Alembic."""
    from sqlalchemy.exc import SQLAlchemyError

    from tagtrail.cli.serve_migrate import migrate_in_child
    from tagtrail.meta.database import Database
    from tagtrail.meta.migrate import HEAD_REVISION

    url = settings.metadata_url
    try:
        database = await Database.open(url, migrate=False)
        try:
            behind = await database.revision() != HEAD_REVISION
        except BaseException:
            await database.close()
            raise
        if behind and settings.migrate_on_start:
            await database.close()
            await migrate_in_child(url, settings.log_level, settings.log_format)
            database = await Database.open(url, migrate=False)
    except (OSError, SQLAlchemyError) as exc:
        raise DatabaseUnavailable from exc
    return database
