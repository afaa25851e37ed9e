"""What ``tagtrail admin mirror`` does (its arguments: ``admin``), on the mirror store.

Imported only when a mirror command runs. The upstream's password comes from standard input
only, is sealed with the data directory's credential key, and is never printed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import SecretStr

from tagtrail.cli.common import run_on_database, settings_from
from tagtrail.config import Settings
from tagtrail.errors import InvalidInput, NotFound, RegistryError
from tagtrail.meta.credentials import CredentialBox, CredentialKeyInvalid
from tagtrail.meta.database import Database
from tagtrail.meta.mirror_state import Watch
from tagtrail.meta.mirrors import OK, UNCHECKED, MirrorRecord, checked
from tagtrail.meta.sql import SqlMetadataStore
from tagtrail.meta.sql_mirrors import SqlMirrorStore
from tagtrail.times import format_timestamp
from tagtrail.upstream import Upstream, UpstreamError, UpstreamUnauthorized


@dataclass(frozen=True)
class MirrorCommand:
    """What an action works on: the settings, the database, its mirrors and its metadata."""

    settings: Settings
    database: Database
    store: SqlMirrorStore

    @property
    def meta(self) -> SqlMetadataStore:
        return SqlMetadataStore(self.database)


Action = Callable[[argparse.Namespace, MirrorCommand], Awaitable[int]]


class UpstreamCheckFailed(RegistryError):
    """``add`` asked the upstream and it did not answer as a registry."""


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if settings is None:
        return 2
    if args.action in ACTIONS:
        action = ACTIONS[args.action]
    else:
        from tagtrail.cli.watch_actions import WATCH_ACTIONS

        action = WATCH_ACTIONS[args.action]

    async def on(database: Database) -> int:
        store = SqlMirrorStore(database, _box(settings))
        return await action(args, MirrorCommand(settings, database, store))

    return run_on_database(settings, on)


def _box(settings: Settings) -> CredentialBox:
    try:
        return CredentialBox.load(settings.keys_dir)
    except (CredentialKeyInvalid, OSError) as exc:
        raise RegistryError(str(exc)) from exc


async def mirror_add(args: argparse.Namespace, command: MirrorCommand) -> int:
    password = None
    if args.password_stdin:
        if args.username is None:
            raise InvalidInput("--password-stdin goes with --username")
        password = SecretStr(sys.stdin.readline().rstrip("\n"))
    elif args.username is not None:
        raise InvalidInput("--username needs --password-stdin (a password is never an argument)")
    mirror = checked(
        MirrorRecord(args.prefix, args.url, args.username, password, args.check_interval)
    )
    status = UNCHECKED if args.no_check else await check_upstream(mirror)
    await command.store.add_mirror(
        MirrorRecord(
            mirror.prefix, mirror.url, mirror.username, password, mirror.check_interval_s, status
        )
    )
    print(
        f"{mirror.prefix} mirrors {mirror.url}"
        + (f" as {mirror.username}" if mirror.username else " anonymously")
        + f", checking tags every {mirror.check_interval_s} s ({status})"
    )
    return 0


async def check_upstream(mirror: MirrorRecord) -> str:
    """The status of a mirror whose upstream answers ``/v2/``; UpstreamCheckFailed, in one line
    naming what went wrong, when it does not."""
    try:
        async with Upstream(mirror.url, mirror.username, mirror.password) as upstream:
            await upstream.ping()
    except UpstreamUnauthorized as exc:
        raise UpstreamCheckFailed(
            f"{mirror.url} refused the credentials: {exc} (--no-check registers it anyway)"
        ) from exc
    except UpstreamError as exc:
        raise UpstreamCheckFailed(
            f"{mirror.url} did not answer as a registry: {exc} (--no-check registers it anyway)"
        ) from exc
    return OK


async def mirror_list(args: argparse.Namespace, command: MirrorCommand) -> int:
    """Each mirror on a line, and under it its watches, indented."""
    watches = await command.meta.list_watches()
    for mirror in await command.store.list_mirrors():
        user = mirror.username or "anonymous"
        print(
            f"{mirror.prefix}  {mirror.url}  {user}  every {mirror.check_interval_s} s"
            f"  {mirror.status}"
        )
        for watch in watches:
            if watch.repository.startswith(f"{mirror.prefix}/"):
                print(f"  {describe_watch(watch)}")
    return 0


def describe_watch(watch: Watch) -> str:
    """One line: what is watched, how often, which tags and platforms, the last round."""
    parts = [f"watch {watch.repository}", f"every {watch.interval_s} s"]
    parts.append(f"tags {watch.tags}" if watch.tags is not None else "all tags")
    if watch.exclude is not None:
        parts.append(f"exclude {watch.exclude}")
    if watch.platforms:
        parts.append(f"platforms {','.join(watch.platforms)}")
    if watch.last_round_ms is None:
        parts.append("no round yet")
    else:
        parts.append(f"last round {format_timestamp(watch.last_round_ms, timespec='seconds')}")
        parts.append(f"error: {watch.last_error}" if watch.last_error else "ok")
    return "  ".join(parts)


async def mirror_rm(args: argparse.Namespace, command: MirrorCommand) -> int:
    if not await command.store.remove_mirror(args.prefix):
        raise NotFound(f"{args.prefix} is no mirror")
    print(
        f"{args.prefix} mirrors nothing now; its organisation and repositories stay "
        f"(`tagtrail admin org rm {args.prefix}` removes the organisation)"
    )
    return 0


def configured_mirrors(settings: Settings) -> list[MirrorRecord]:
    """The settings' ``[[mirrors]]``, checked as ``add`` checks them (InvalidInput, in words):
    before anything is written, so a bad table stops a start that changed nothing."""
    return [
        checked(MirrorRecord(m.prefix, m.url, m.username, m.password, m.check_interval))
        for m in settings.mirrors
    ]


async def register_configured(database: Database, settings: Settings) -> None:
    """Register the settings' ``[[mirrors]]`` at start, or update those registered with other
    values (a changed upstream or credentials makes the status unchecked again). The upstream
    is not asked: one that is down must not stop the server. Mirrors added with the CLI and not
    in the settings stay."""
    wanted = configured_mirrors(settings)
    if not wanted:
        return
    store = SqlMirrorStore(database, _box(settings))
    for mirror in wanted:
        known = await store.get_mirror(mirror.prefix)
        if known is None:
            await store.add_mirror(mirror)
            print(f"mirror {mirror.prefix}: registered {mirror.url} from the settings", flush=True)
            continue
        same_upstream = (known.url, known.username, _plain(known.password)) == (
            mirror.url,
            mirror.username,
            _plain(mirror.password),
        )
        if same_upstream and known.check_interval_s == mirror.check_interval_s:
            continue
        status = known.status if same_upstream else UNCHECKED
        await store.update_mirror(
            MirrorRecord(
                mirror.prefix,
                mirror.url,
                mirror.username,
                mirror.password,
                mirror.check_interval_s,
                status,
            )
        )
        print(f"mirror {mirror.prefix}: updated from the settings", flush=True)


def _plain(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()


ACTIONS: dict[str, Action] = {
    action.__name__: action for action in (mirror_add, mirror_list, mirror_rm)
}
