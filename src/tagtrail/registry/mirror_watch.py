"""One round of a watch: every kept tag of an upstream repository asked once, moves followed.

A round lists the upstream's tags (every page), keeps those the watch's regexes keep, and
checks each with ``MirrorSync.check_tag``: one HEAD per tag, and GETs only for a tag whose
digest changed (the manifest, its index children or those of the watch's platforms, their
blobs), the move then recorded. Tags the repository has here that the upstream no longer
lists are checked too, so an upstream's deletion is recorded as one.

An upstream that cannot answer (down, 5xx, rate-limited beyond the client's wait) stops the
round where it is, never recording a move: the same request is tried again after 1 s, 2 s,
4 s... while the next try still falls within ``patience_ms`` (a server gives a round its
interval: past it, the next round is due anyway), and the round then ends with the error.
Refused credentials end it at once: the mirror's status says so, and retrying soon cannot help.
Any other failure of one tag (a manifest that does not verify, say) is counted and the round
goes on with the next tag.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol, TypeVar

from tagtrail.clock import now_ms
from tagtrail.errors import InvalidInput
from tagtrail.meta.mirror_state import Watch
from tagtrail.meta.store import ManifestStore
from tagtrail.registry.mirror_sync import MirrorSync, TagCheckResult
from tagtrail.registry.mirror_upstreams import Mirrored
from tagtrail.types import Tag, parse_tag
from tagtrail.upstream.client import Upstream
from tagtrail.upstream.errors import (
    UpstreamError,
    UpstreamRateLimited,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)

FIRST_RETRY_S = 1.0
_T = TypeVar("_T")


class WatchProgress(Protocol):
    """What a round tells as it goes (the CLI's progress bar)."""

    def listed(self, total: int) -> None: ...
    def checked(self, tag: str, result: TagCheckResult) -> None: ...


@dataclass(frozen=True, slots=True)
class RoundResult:
    tags: int  # the tags the round meant to check
    checked: int  # those the upstream answered for
    moved: int  # moves (and deletions) recorded
    failed: int  # tags the upstream could not answer for (or sent something wrong about)
    error: str | None = None  # the first failure, or why the round stopped
    credentials_rejected: bool = False


class RoundStopped(Exception):
    """The upstream could not be asked (any more) this round."""

    def __init__(self, cause: UpstreamError) -> None:
        super().__init__(str(cause))
        self.cause = cause


def compile_filter(pattern: str | None, flag: str) -> re.Pattern[str] | None:
    """``pattern`` compiled (None for none); InvalidInput naming ``flag`` when it is no regex."""
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InvalidInput(f"{flag} {pattern!r} is no regular expression: {exc}") from exc


def kept_tags(watch: Watch, tags: Sequence[str]) -> list[str]:
    """The tags the watch keeps: matching ``tags`` in full (all without it) and not matching
    ``exclude`` in full; sorted, duplicates and names that are no valid tag dropped."""
    keep = compile_filter(watch.tags, "--tags")
    drop = compile_filter(watch.exclude, "--exclude")
    kept = []
    for tag in sorted(set(tags)):
        try:
            parse_tag(tag)
        except InvalidInput:
            continue
        if keep is not None and keep.fullmatch(tag) is None:
            continue
        if drop is not None and drop.fullmatch(tag) is not None:
            continue
        kept.append(tag)
    return kept


class WatchRound:
    """Rounds of watches on one metadata store; ``sleep`` and ``clock_ms`` are injectable."""

    def __init__(
        self,
        sync: MirrorSync,
        manifests: ManifestStore,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        self._sync = sync
        self._manifests = manifests
        self._sleep = sleep
        self._clock_ms = clock_ms

    async def run(
        self,
        watch: Watch,
        mirrored: Mirrored,
        upstream: Upstream,
        *,
        patience_ms: int,
        progress: WatchProgress | None = None,
    ) -> RoundResult:
        """Check every tag the watch keeps; retries of an unavailable upstream end
        ``patience_ms`` after the round started (0: no retry)."""
        deadline = self._clock_ms() + patience_ms
        try:
            listed = await self._patiently(partial(upstream.list_tags, mirrored.upstream), deadline)
        except RoundStopped as exc:
            return _stopped(0, 0, 0, 0, exc)
        here = await self._manifests.list_tags(mirrored.local, None, None)
        # A tag here the upstream no longer lists: its check records the deletion.
        tags = kept_tags(watch, [*listed, *here])
        if progress is not None:
            progress.listed(len(tags))
        checked = moved = failed = 0
        first_error: str | None = None
        for tag in tags:
            try:
                check = partial(self._check, watch, mirrored, upstream, Tag(tag))
                result = await self._patiently(check, deadline)
            except RoundStopped as exc:
                return _stopped(len(tags), checked, moved, failed + 1, exc)
            if result.failure is not None:
                failed += 1
                first_error = first_error or f"{tag}: {result.unavailable}"
            else:
                checked += 1
                moved += result.moved
            if progress is not None:
                progress.checked(tag, result)
        return RoundResult(len(tags), checked, moved, failed, first_error)

    async def _check(
        self, watch: Watch, mirrored: Mirrored, upstream: Upstream, tag: Tag
    ) -> TagCheckResult:
        result = await self._sync.check_tag(
            mirrored,
            upstream,
            tag,
            due_only=False,
            platforms=watch.platforms,
            fetch_blobs=True,
        )
        if isinstance(result.failure, UpstreamUnavailable | UpstreamUnauthorized):
            raise result.failure  # the upstream's trouble, not this tag's: _patiently decides
        return result

    async def _patiently(self, attempt: Callable[[], Awaitable[_T]], deadline_ms: int) -> _T:
        """``attempt()``, tried again after an UpstreamUnavailable with a doubling wait (at
        least the Retry-After of a 429) while the wait ends before ``deadline_ms``."""
        wait = FIRST_RETRY_S
        while True:
            try:
                return await attempt()
            except UpstreamUnauthorized as exc:
                raise RoundStopped(exc) from exc
            except UpstreamUnavailable as exc:
                if isinstance(exc, UpstreamRateLimited) and exc.retry_after is not None:
                    wait = max(wait, exc.retry_after)
                if self._clock_ms() + wait * 1000 > deadline_ms:
                    raise RoundStopped(exc) from exc
                await self._sleep(wait)
                wait *= 2
            except UpstreamError as exc:  # the repository is gone, a malformed tag list
                raise RoundStopped(exc) from exc


def _stopped(tags: int, checked: int, moved: int, failed: int, stop: RoundStopped) -> RoundResult:
    return RoundResult(
        tags,
        checked,
        moved,
        failed,
        f"stopped: {stop}",
        credentials_rejected=isinstance(stop.cause, UpstreamUnauthorized),
    )
