"""What ``tagtrail admin mirror watch|unwatch|sync`` do (their arguments: ``admin``).

``watch`` and ``unwatch`` only write the watch: the server's workers run its rounds
(``registry.mirror_loop``). ``sync`` runs one round here, in the CLI's process, on the server's
database and blob storage (as ``gc`` does: refused unless the two are a pair), with the
watch's filters when the repository is watched and every tag when it is not.
"""

from __future__ import annotations

import argparse
import re
import sys

from tagtrail.accounts import organisation_of
from tagtrail.blobs.factory import open_driver
from tagtrail.cli.mirror_actions import Action, MirrorCommand
from tagtrail.cli.sync_progress import sync_progress
from tagtrail.clock import now_ms
from tagtrail.errors import InvalidInput, NameInvalid, NotFound, RegistryError
from tagtrail.meta.mirror_state import Watch
from tagtrail.meta.mirrors import MirrorRecord
from tagtrail.meta.store_identity import database_identity
from tagtrail.registry.mirror_sync import MirrorSync
from tagtrail.registry.mirror_upstreams import Mirrored
from tagtrail.registry.mirror_watch import RoundResult, WatchRound, compile_filter
from tagtrail.registry.store_guard import StoreMismatch, require_same_store
from tagtrail.types import RepoName, parse_name
from tagtrail.upstream.client import Upstream
from tagtrail.upstream.rate_limit import RateLimitedTransport, TokenBucket

_PLATFORM_RE = re.compile(r"[a-z0-9_.-]+/[a-z0-9_.-]+(/[a-z0-9_.-]+)?")


async def mirrored_repository(raw: str, command: MirrorCommand) -> tuple[RepoName, MirrorRecord]:
    """``<prefix>/<repository>`` and its mirror; InvalidInput, in words, when it is none."""
    try:
        name = parse_name(raw)
    except NameInvalid as exc:
        raise InvalidInput(f"{raw!r} is no repository name (e.g. hub/library/python)") from exc
    prefix = organisation_of(name)
    mirror = await command.store.get_mirror(prefix)
    if mirror is None:
        raise InvalidInput(f"{prefix} is no mirror (`tagtrail admin mirror list` shows them)")
    if name == prefix:
        raise InvalidInput(f"{raw}: a repository under the mirror, e.g. {prefix}/library/python")
    return name, mirror


def platforms_of(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return ()
    platforms = tuple(p.strip() for p in raw.split(",") if p.strip())
    for platform in platforms:
        if not _PLATFORM_RE.fullmatch(platform):
            raise InvalidInput(f"--platforms: {platform!r} is not os/arch[/variant]")
    return platforms


async def mirror_watch(args: argparse.Namespace, command: MirrorCommand) -> int:
    name, _ = await mirrored_repository(args.repository, command)
    compile_filter(args.tags, "--tags")
    compile_filter(args.exclude, "--exclude")
    if args.interval < 1:
        raise InvalidInput("--interval: at least 1s")
    watch = Watch(
        name,
        tags=args.tags,
        exclude=args.exclude,
        interval_s=args.interval,
        platforms=platforms_of(args.platforms),
        created_ms=now_ms(),
    )
    new = await command.meta.add_watch(watch)
    which = "every tag" if watch.tags is None else f"tags matching {watch.tags}"
    if watch.exclude is not None:
        which += f" but {watch.exclude}"
    platforms = ",".join(watch.platforms) or "all platforms"
    print(
        f"{'watching' if new else 'changed the watch of'} {name}: {which}, {platforms}, "
        f"every {watch.interval_s} s"
    )
    return 0


async def mirror_unwatch(args: argparse.Namespace, command: MirrorCommand) -> int:
    name, _ = await mirrored_repository(args.repository, command)
    if not await command.meta.remove_watch(name):
        raise NotFound(f"{name} is not watched")
    print(f"{name} is not watched any more; what was mirrored stays")
    return 0


async def mirror_sync(args: argparse.Namespace, command: MirrorCommand) -> int:
    name, mirror = await mirrored_repository(args.repository, command)
    meta = command.meta
    watched = {w.repository: w for w in await meta.list_watches(mirror.prefix)}
    watch = watched.get(name, Watch(name))
    settings = command.settings
    driver = await open_driver(settings)
    try:
        try:
            await require_same_store(await database_identity(command.database), driver)
        except StoreMismatch as exc:
            raise RegistryError(f"sync refused, nothing was written: {exc}") from exc
        sync = MirrorSync(meta, meta, meta, driver)
        mirrored = Mirrored(mirror, name, name[len(mirror.prefix) + 1 :])
        bucket = TokenBucket(settings.mirror_requests_per_second)
        async with Upstream(
            mirror.url,
            mirror.username,
            mirror.password,
            transport=RateLimitedTransport(bucket),
        ) as upstream:
            with sync_progress(name) as progress:
                # No retries: the one asking sees at once that the upstream does not answer.
                result = await WatchRound(sync, meta).run(
                    watch, mirrored, upstream, patience_ms=0, progress=progress
                )
    finally:
        await driver.close()
    print(summary(name, result))
    if result.error is not None:
        print(f"tagtrail: sync {name}: {result.error}", file=sys.stderr)
        return 1
    return 0


def summary(name: RepoName, result: RoundResult) -> str:
    return (
        f"sync {name}: {result.tags} tags, {result.checked} checked, {result.moved} moved, "
        f"{result.failed} failed"
    )


WATCH_ACTIONS: dict[str, Action] = {
    action.__name__: action for action in (mirror_watch, mirror_unwatch, mirror_sync)
}
