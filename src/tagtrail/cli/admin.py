"""``tagtrail admin``: users, organisations, visibility, pull tokens and signing keys.

Works directly on the configured database, with the server up or down.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from tagtrail.auth import keys
from tagtrail.auth.model import ROLES, PullTokenRecord, Role, Visibility
from tagtrail.auth.secrets import (
    generate_password,
    hash_password,
    new_pull_token,
    secret_digest,
)
from tagtrail.cli.common import run_on_database, settings_from
from tagtrail.config import Settings
from tagtrail.errors import NotFound, RegistryError
from tagtrail.meta.database import now_ms
from tagtrail.meta.sql_accounts import SqlAccountStore
from tagtrail.types import parse_name

_DURATION_RE = re.compile(r"([0-9]+)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}

Action = Callable[[argparse.Namespace, SqlAccountStore, Settings], Awaitable[int]]


def parse_duration(raw: str) -> int:
    """Seconds in a duration such as ``720h``, ``30d`` or ``1h30m``."""
    parts = _DURATION_RE.findall(raw)
    if not parts or "".join(n + u for n, u in parts) != raw:
        raise argparse.ArgumentTypeError(f"not a duration: {raw!r} (e.g. 720h, 30d, 1h30m)")
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)


def _read_password(args: argparse.Namespace) -> tuple[str, bool]:
    """(password, generated): from stdin with --password-stdin, else generated."""
    if getattr(args, "password_stdin", False):
        return sys.stdin.readline().rstrip("\n"), False
    return generate_password(), True


async def user_add(args: argparse.Namespace, accounts: SqlAccountStore, _: Settings) -> int:
    password, generated = _read_password(args)
    await accounts.add_user(args.name, hash_password(password), is_admin=args.admin)
    print(f"created user {args.name}" + (f"; password: {password}" if generated else ""))
    return 0


async def user_passwd(args: argparse.Namespace, accounts: SqlAccountStore, _: Settings) -> int:
    password, generated = _read_password(args)
    if not await accounts.set_password(args.name, hash_password(password)):
        raise NotFound(f"user {args.name} does not exist")
    print(f"password of {args.name} changed" + (f"; new password: {password}" if generated else ""))
    return 0


async def user_rm(args: argparse.Namespace, accounts: SqlAccountStore, _: Settings) -> int:
    if not await accounts.remove_user(args.name):
        raise NotFound(f"user {args.name} does not exist")
    print(f"removed user {args.name}")
    return 0


async def user_list(args: argparse.Namespace, accounts: SqlAccountStore, _: Settings) -> int:
    for user in await accounts.list_users():
        print(f"{user.name}{'  (admin)' if user.is_admin else ''}")
    return 0


async def org_create(args: argparse.Namespace, accounts: SqlAccountStore, _: Settings) -> int:
    await accounts.add_organisation(args.name, Visibility.parse(args.visibility))
    print(f"created organisation {args.name} ({args.visibility})")
    return 0


async def org_visibility(args: argparse.Namespace, accounts: SqlAccountStore, _: Settings) -> int:
    if not await accounts.set_organisation_visibility(args.name, Visibility.parse(args.visibility)):
        raise NotFound(f"organisation {args.name} does not exist")
    print(f"organisation {args.name} default visibility: {args.visibility}")
    return 0


async def member_add(args: argparse.Namespace, accounts: SqlAccountStore, _: Settings) -> int:
    await accounts.set_member(args.org, args.user, cast(Role, args.role))
    print(f"{args.user} is a member of {args.org} with role {args.role}")
    return 0


async def member_rm(args: argparse.Namespace, accounts: SqlAccountStore, _: Settings) -> int:
    if not await accounts.remove_member(args.org, args.user):
        raise NotFound(f"{args.user} is not a member of {args.org}")
    print(f"removed {args.user} from {args.org}")
    return 0


async def repo_visibility(args: argparse.Namespace, accounts: SqlAccountStore, _: Settings) -> int:
    await accounts.set_repository_visibility(
        parse_name(args.name), Visibility.parse(args.visibility)
    )
    print(f"repository {args.name}: {args.visibility}")
    return 0


async def token_create(args: argparse.Namespace, accounts: SqlAccountStore, _: Settings) -> int:
    token_id, secret = new_pull_token()
    created = now_ms()
    expires = None if args.ttl is None else created + args.ttl * 1000
    await accounts.add_pull_token(
        PullTokenRecord(
            id=token_id,
            organisation=args.org,
            secret_sha256=secret_digest(secret),
            can_push=args.push,
            expires_ms=expires,
            revoked_ms=None,
            description=args.description,
            created_ms=created,
        )
    )
    print(f"id:      {token_id}")
    print(f"secret:  {secret}")
    print(f"expires: {_when(expires)}")
    print("The secret is shown only now. Use the id as user name and the secret as password.")
    return 0


async def token_list(args: argparse.Namespace, accounts: SqlAccountStore, _: Settings) -> int:
    now = now_ms()
    for token in await accounts.list_pull_tokens(args.org):
        rights = "pull,push" if token.can_push else "pull"
        state = "revoked" if token.revoked_ms else ("valid" if token.valid_at(now) else "expired")
        print(
            f"{token.id}  {token.organisation}  {rights}  expires {_when(token.expires_ms)}"
            f"  {state}  {token.description}".rstrip()
        )
    return 0


async def token_revoke(args: argparse.Namespace, accounts: SqlAccountStore, _: Settings) -> int:
    if not await accounts.revoke_pull_token(args.id, now_ms()):
        raise NotFound(f"no valid pull token {args.id}")
    print(f"revoked {args.id}")
    return 0


async def key_rotate(args: argparse.Namespace, _: SqlAccountStore, settings: Settings) -> int:
    if settings.token_key is not None:
        raise RegistryError("the signing key is set by token_key: rotate it there")
    kid = keys.rotate(settings.keys_dir)
    print(f"new signing key {kid}; tokens of the previous key verify until they expire")
    print("restart the servers to sign with it")
    return 0


def _when(ms: int | None) -> str:
    if ms is None:
        return "never"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def register(commands: Any) -> None:
    admin = commands.add_parser("admin", help="administer accounts (server up or down)")
    admin.add_argument("--data-dir", type=Path, help="the server's data directory")
    admin.add_argument("--config", type=Path, help="the server's TOML settings file")
    groups = admin.add_subparsers(dest="group", required=True)

    def command(parent: Any, name: str, action: Action, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = parent.add_parser(name, help=help_text)
        parser.set_defaults(run=run, action=action)
        return parser

    users = groups.add_parser("user", help="users").add_subparsers(dest="verb", required=True)
    for name, action, text in (
        ("add", user_add, "add a user (a password is generated unless --password-stdin)"),
        ("passwd", user_passwd, "set a user's password"),
    ):
        parser = command(users, name, action, text)
        parser.add_argument("name")
        parser.add_argument("--password-stdin", action="store_true")
        if name == "add":
            parser.add_argument("--admin", action="store_true", help="may do everything")
    command(users, "rm", user_rm, "remove a user").add_argument("name")
    command(users, "list", user_list, "list users")

    orgs = groups.add_parser("org", help="organisations").add_subparsers(dest="verb", required=True)
    create = command(orgs, "create", org_create, "create an organisation")
    create.add_argument("name")
    create.add_argument("--visibility", default="private", help="default of its repositories")
    visibility = command(orgs, "visibility", org_visibility, "set the default visibility")
    visibility.add_argument("name")
    visibility.add_argument("visibility")
    member = orgs.add_parser("member", help="members").add_subparsers(dest="how", required=True)
    add = command(member, "add", member_add, "add a member, or change their role")
    add.add_argument("org")
    add.add_argument("user")
    add.add_argument("--role", choices=ROLES, default="pull")
    remove = command(member, "rm", member_rm, "remove a member")
    remove.add_argument("org")
    remove.add_argument("user")

    repos = groups.add_parser("repo", help="repositories").add_subparsers(
        dest="verb", required=True
    )
    repo = command(repos, "visibility", repo_visibility, "private, public or public-tags=T,...")
    repo.add_argument("name")
    repo.add_argument("visibility")

    tokens = groups.add_parser("token", help="pull tokens").add_subparsers(
        dest="verb", required=True
    )
    create_token = command(tokens, "create", token_create, "create a pull token")
    create_token.add_argument("--org", required=True)
    create_token.add_argument("--pull", action="store_true", help="pull (always granted)")
    create_token.add_argument("--push", action="store_true", help="push as well")
    create_token.add_argument("--ttl", type=parse_duration, help="lifetime, e.g. 720h")
    create_token.add_argument("--description", default="")
    command(tokens, "list", token_list, "list pull tokens").add_argument("--org")
    command(tokens, "revoke", token_revoke, "revoke a pull token").add_argument("id")

    keyring = groups.add_parser("key", help="token signing keys").add_subparsers(
        dest="verb", required=True
    )
    command(keyring, "rotate", key_rotate, "new signing key; the old one keeps verifying")


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if settings is None:
        return 2
    action: Action = args.action
    return run_on_database(
        settings, lambda database: action(args, SqlAccountStore(database), settings)
    )
