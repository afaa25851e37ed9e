"""What each ``tagtrail admin`` command does (its arguments: ``admin``), on the account store.

Imported only when an admin command runs: the account store brings SQLAlchemy.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import cast

from tagtrail.accounts import PullTokenRecord, Role, Visibility
from tagtrail.auth import keys
from tagtrail.auth.secrets import generate_password, hash_password, new_pull_token, secret_digest
from tagtrail.cli.common import run_on_database, settings_from
from tagtrail.clock import now_ms
from tagtrail.config import Settings
from tagtrail.errors import NotFound, RegistryError
from tagtrail.meta.sql_accounts import SqlAccountStore
from tagtrail.times import format_timestamp
from tagtrail.types import parse_name

Action = Callable[[argparse.Namespace, SqlAccountStore, Settings], Awaitable[int]]


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if settings is None:
        return 2
    action: Action = ACTIONS[args.action]
    return run_on_database(
        settings, lambda database: action(args, SqlAccountStore(database), settings)
    )


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


async def org_list(args: argparse.Namespace, accounts: SqlAccountStore, _: Settings) -> int:
    for org in await accounts.list_organisations():
        members = ", ".join(f"{user} ({role})" for user, role in org.members.items())
        print(f"{org.name}  {org.visibility}  {members or 'no members'}")
    return 0


async def org_rm(args: argparse.Namespace, accounts: SqlAccountStore, _: Settings) -> int:
    removed = await accounts.remove_organisation(args.name)
    if removed is None:
        raise NotFound(f"organisation {args.name} does not exist")
    members, tokens = removed
    print(
        f"removed organisation {args.name} with its memberships ({members}) "
        f"and pull tokens ({tokens})"
    )
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
    if args.sessions:
        from tagtrail.ui import session  # the web stack, only for this command

        count = session.rotate_keys(settings.keys_dir)
        print(f"new UI session key; {count} in {settings.keys_dir / session.KEY_FILE}")
        print("restart the servers to sign with it; delete the older lines 12 hours later")
        return 0
    if settings.token_key is not None:
        raise RegistryError("the signing key is set by token_key: rotate it there")
    kid = keys.rotate(settings.keys_dir)
    print(f"new signing key {kid}; tokens of the previous key verify until they expire")
    print("restart the servers to sign with it")
    return 0


def _when(ms: int | None) -> str:
    if ms is None:
        return "never"
    return format_timestamp(ms, timespec="seconds")


# ``admin KIND NAME`` runs ACTIONS["KIND_NAME"] (the parser sets ``action``).
ACTIONS: dict[str, Action] = {
    action.__name__: action
    for action in (
        user_add,
        user_passwd,
        user_rm,
        user_list,
        org_create,
        org_list,
        org_rm,
        org_visibility,
        member_add,
        member_rm,
        repo_visibility,
        token_create,
        token_list,
        token_revoke,
        key_rotate,
    )
}
