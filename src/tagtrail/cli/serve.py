"""``tagtrail serve``: run the registry (embedded storage unless configured otherwise)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from tagtrail.auth.keys import KeyRing
from tagtrail.auth.secrets import generate_password, hash_password
from tagtrail.cli.common import settings_from
from tagtrail.cli.store_check import StorageUnavailable, claim_storage, refusal
from tagtrail.config import Settings
from tagtrail.meta.database import Database, SchemaOutdated
from tagtrail.meta.sql_accounts import SqlAccountStore
from tagtrail.meta.store_identity import IdentityMissing
from tagtrail.registry.store_guard import StoreMismatch

APP_FACTORY = "tagtrail.api.app:app_from_environment"


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
    """Workers are separate processes: hand them the resolved settings via the environment."""
    exported = settings.model_dump(mode="json", exclude_none=True, exclude={"admin_password"})
    for field, value in exported.items():
        text = value if isinstance(value, str) else json.dumps(value)
        os.environ[f"TAGTRAIL_{field.upper()}"] = text


def run(args: argparse.Namespace) -> int:
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
    settings = settings.model_copy(update={"data_dir": settings.data_dir.resolve()})
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if (settings.tls_cert is None) != (settings.tls_key is None):
        print("tagtrail: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    try:
        asyncio.run(bootstrap(settings))
    except StoreMismatch as exc:
        print(refusal(exc, settings, "refusing to start"), file=sys.stderr)
        return 1
    except (SchemaOutdated, IdentityMissing, StorageUnavailable, OSError) as exc:
        print(f"tagtrail: {exc}", file=sys.stderr)
        return 1
    _export(settings)

    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    server = Granian(
        APP_FACTORY,
        factory=True,
        interface=Interfaces.ASGI,
        # HTTP/1.1 only: granian's "auto" mode first sniffs for the HTTP/2 preface with no
        # timer, so a client that connects and sends nothing was held forever; hyper's own
        # HTTP/1 connection starts header_read_timeout at accept (hyperium/hyper#3756).
        http=HTTPModes.http1,
        address=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=LogLevels(settings.log_level.lower()),
        ssl_cert=settings.tls_cert,
        ssl_key=settings.tls_key,
        http1_settings=HTTP1Settings(
            header_read_timeout=settings.header_timeout_seconds * 1000,
            max_buffer_size=settings.max_header_bytes,
        ),
    )
    scheme = "https" if settings.tls_cert else "http"
    url = settings.external_url or f"{scheme}://{settings.listen}"
    print(f"tagtrail listening on {url} (data in {settings.data_dir})", flush=True)
    server.serve()
    return 0


async def bootstrap(settings: Settings) -> None:
    """Before the workers start: migrate, check the blob storage belongs to the database (or
    mark it as the database's, the first time), create the signing key and, with auth and no
    admin yet (the first start), the admin user (its generated password is printed this once)."""
    database = await Database.open(settings.metadata_url, migrate=settings.migrate_on_start)
    try:
        await database.require_head()
        await claim_storage(database, settings)
        if not settings.auth:
            return
        KeyRing.load(settings.keys_dir, settings.token_key, tuple(settings.token_verify_keys))
        accounts = SqlAccountStore(database)
        if not any(user.is_admin for user in await accounts.list_users()):
            password = settings.admin_password or generate_password()
            await accounts.add_user("admin", hash_password(password), is_admin=True)
            if settings.admin_password:
                print("created user admin with the password from TAGTRAIL_ADMIN_PASSWORD")
            else:
                print(f"created user admin; its password (shown only this once): {password}")
    finally:
        await database.close()
