"""Pull-through: pulls of a repository under a mirror's prefix, served from what tagtrail holds
and brought from the upstream when it is not held or is due for a look.

- A manifest by tag asks the upstream (HEAD) at most once per the mirror's check interval per
  tag (``MirrorSync.check_tag``, which fetches and records a move); a burst of pulls of one
  tag in a worker makes one check. When the upstream cannot answer, what is held is served
  with a ``Warning: 110`` (RFC 7234 "response is stale") naming the upstream and when the tag
  was last checked; when nothing is held, the pull gets 503 UNAVAILABLE.
- A manifest by digest is served when held, else fetched once (verified) and stored.
- A blob not linked here: HEAD asks the upstream; GET streams the upstream's bytes while they
  are stored (``mirror_fetches``). Bytes held for another repository are linked only once the
  upstream said this repository has the blob: a pull through a mirror must not read another
  repository's private blobs by digest.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from tagtrail import error_codes
from tagtrail.blobs.driver import BlobDriver
from tagtrail.clock import now_ms
from tagtrail.errors import BlobUnknown, InvalidInput, ManifestUnknown, RegistryError
from tagtrail.meta.mirror_state import MirrorStateStore
from tagtrail.meta.store import BlobLinkStore, ManifestStore
from tagtrail.registry.blobs import BlobDelivery, Blobs
from tagtrail.registry.manifests import Reference
from tagtrail.registry.mirror_fetches import BlobFetches, Fetch, Listener
from tagtrail.registry.mirror_sync import MirrorSync, TagCheckResult
from tagtrail.registry.mirror_upstreams import Mirrored, MirrorUpstreams
from tagtrail.times import format_timestamp
from tagtrail.types import Digest, RepoName, StoredManifest, Tag
from tagtrail.upstream.client import Upstream
from tagtrail.upstream.errors import UpstreamError, UpstreamNotFound

# Tag checks remembered by a worker (the oldest forgotten first).
RECENT_CHECKS = 10_000
# How long a pull of a held tag waits for a slow upstream before it is served stale.
STALE_WAIT_SECONDS = 3.0

T = TypeVar("T")
K = TypeVar("K")


class UpstreamUnreachable(RegistryError):
    """A pull needs the upstream (nothing of it is held here) and the upstream failed."""

    error_code = error_codes.UNAVAILABLE


@dataclass(frozen=True, slots=True)
class PulledManifest:
    manifest: StoredManifest
    warning: str | None = None  # the Warning header's value, when served stale


@dataclass(frozen=True, slots=True)
class SendFetched:
    """The blob as it arrives from the upstream: ``size`` when the upstream announced it.
    ``close`` must be called when the response ends, streamed or not."""

    size: int | None
    chunks: AsyncIterator[bytes]
    fetch: Fetch
    listener: Listener

    def close(self) -> None:
        self.fetch.listeners.discard(self.listener)


class MirrorPull:
    def __init__(
        self,
        upstreams: MirrorUpstreams,
        sync: MirrorSync,
        state: MirrorStateStore,
        manifests: ManifestStore,
        links: BlobLinkStore,
        driver: BlobDriver,
        blobs: Blobs,
        fetches: BlobFetches,
        *,
        clock_ms: Callable[[], int] = now_ms,
        stale_wait: float = STALE_WAIT_SECONDS,
    ) -> None:
        self._upstreams = upstreams
        self._sync = sync
        self._state = state
        self._manifests = manifests
        self._links = links
        self._driver = driver
        self._blobs = blobs
        self._fetches = fetches
        self._clock_ms = clock_ms
        self._stale_wait = stale_wait
        # In-flight work of this worker, shared by the pulls that want the same thing.
        self._checks: dict[tuple[RepoName, Tag], asyncio.Task[TagCheckResult]] = {}
        # The last check of each tag this worker saw, until its interval ends: a pull within
        # it reads no check from the database (a pull of a mirrored tag then costs what a
        # local one does), and an upstream that failed is not asked again before then.
        self._recent: dict[tuple[RepoName, Tag], tuple[int, TagCheckResult]] = {}
        self._manifest_fetches: dict[tuple[RepoName, Digest], asyncio.Task[None]] = {}

    async def manifest(self, mirrored: Mirrored, reference: Reference) -> PulledManifest:
        local = mirrored.local
        if reference.digest is not None:
            digest = reference.digest
            found = await self._manifests.get_manifest(local, digest)
            if found is None:
                fetch = self._fetch_manifest(mirrored, digest)
                await _shared(self._manifest_fetches, (local, digest), fetch)
                found = await self._manifests.get_manifest(local, digest)
            if found is None:
                raise ManifestUnknown(detail={"reference": str(digest)})
            return PulledManifest(found)
        tag = reference.tag
        assert tag is not None
        upstream = self._upstreams.client(mirrored.mirror)
        checked = await self._check(mirrored, upstream, tag)
        found = await self._manifests.resolve_tag(local, tag)
        if checked.unavailable is None:
            if found is None:
                raise ManifestUnknown(detail={"reference": tag})
            return PulledManifest(found)
        if found is None:
            raise _unreachable(mirrored, checked.unavailable)
        when = "never" if checked.checked_ms is None else format_timestamp(checked.checked_ms)
        warning = (
            f'110 - "upstream {upstream.host} unreachable; {local}:{tag} as last checked {when}"'
        )
        return PulledManifest(found, warning)

    async def _check(self, mirrored: Mirrored, upstream: Upstream, tag: Tag) -> TagCheckResult:
        """The tag's check: remembered when its interval has not ended, else one (shared)
        ``check_tag``, which asks the upstream unless another worker did within it. A held
        tag waits for a slow upstream at most ``stale_wait`` seconds, then is served stale
        while the check goes on (its answer remembered when it comes)."""
        key = (mirrored.local, tag)
        recent = self._recent.get(key)
        if recent is not None and self._clock_ms() < recent[0]:
            return recent[1]
        task = self._checks.get(key)
        if task is None:
            task = _start(
                self._checks, key, self._sync.check_tag(mirrored, upstream, tag, due_only=True)
            )
            task.add_done_callback(partial(self._remember, key, mirrored, self._clock_ms()))
        held = await self._manifests.resolve_tag(mirrored.local, tag)
        if held is None:
            return await asyncio.shield(task)
        try:
            async with asyncio.timeout(self._stale_wait):
                return await asyncio.shield(task)
        except TimeoutError:
            last = await self._state.tag_check(mirrored.local, tag)
            return TagCheckResult(
                held.digest,
                moved=False,
                asked=True,
                unavailable=f"no answer within {self._stale_wait:g} s",
                checked_ms=None if last is None else last.checked_ms,
            )

    def _remember(
        self,
        key: tuple[RepoName, Tag],
        mirrored: Mirrored,
        started_ms: int,
        task: asyncio.Task[TagCheckResult],
    ) -> None:
        if task.cancelled() or task.exception() is not None:
            return
        checked = task.result()
        fresh = checked.unavailable is None and checked.checked_ms is not None
        since = checked.checked_ms if fresh and checked.checked_ms else started_ms
        self._recent.pop(key, None)  # re-inserted last: the oldest entries go first
        self._recent[key] = (since + mirrored.mirror.check_interval_s * 1000, checked)
        if len(self._recent) > RECENT_CHECKS:
            del self._recent[next(iter(self._recent))]

    def _fetch_manifest(
        self, mirrored: Mirrored, digest: Digest
    ) -> Callable[[], Coroutine[Any, Any, None]]:
        async def fetch() -> None:
            upstream = self._upstreams.client(mirrored.mirror)
            try:
                manifest = await self._sync.fetch_manifest(mirrored, upstream, digest)
            except UpstreamNotFound:
                return  # the pull answers MANIFEST_UNKNOWN
            except (UpstreamError, InvalidInput) as exc:  # InvalidInput: a manifest refused
                raise _unreachable(mirrored, str(exc)) from exc
            await self._state.store_mirrored_manifest(mirrored.local, manifest)

        return fetch

    async def blob_size(self, mirrored: Mirrored, digest: Digest) -> int:
        """A blob HEAD: the size held, else the upstream's (BlobUnknown when it has none)."""
        size = await self._links.blob_size(mirrored.local, digest)
        if size is not None:
            return size
        upstream = self._upstreams.client(mirrored.mirror)
        try:
            size = await upstream.head_blob(mirrored.upstream, str(digest))
        except UpstreamError as exc:
            raise _unreachable(mirrored, str(exc)) from exc
        if size is None:
            raise BlobUnknown(detail={"digest": str(digest)})
        held = await self._driver.size(digest)
        if held is not None:  # the upstream has it, so this repository may read our copy
            await self._links.link_blob(mirrored.local, digest, held)
        return size

    async def open_blob(
        self, mirrored: Mirrored, digest: Digest
    ) -> tuple[int, BlobDelivery] | SendFetched:
        """A blob GET: what is held (as ``Blobs.open`` sends it), else the upstream's bytes
        as they arrive (``SendFetched``), stored meanwhile."""
        local = mirrored.local
        if await self._links.blob_size(local, digest) is None:
            if await self._driver.size(digest) is not None:
                await self.blob_size(mirrored, digest)  # links it, if the upstream has it
            else:
                fetched = await self._fetch_blob(mirrored, digest)
                if fetched is not None:
                    return fetched
        return await self._blobs.open(local, digest)

    async def _fetch_blob(self, mirrored: Mirrored, digest: Digest) -> SendFetched | None:
        """Join the fetch of ``digest``: its stream, or None once it stored the blob."""
        upstream = self._upstreams.client(mirrored.mirror)
        fetch, listener = await self._fetches.join(mirrored, upstream, digest)
        if listener is not None and fetch.error is None and not fetch.elsewhere:
            return SendFetched(fetch.size, fetch.chunks(listener), fetch, listener)
        if listener is not None:
            fetch.listeners.discard(listener)
        await fetch.done.wait()
        if isinstance(fetch.error, UpstreamNotFound):
            raise BlobUnknown(detail={"digest": str(digest)})
        if fetch.error is not None:
            raise _unreachable(mirrored, str(fetch.error) or type(fetch.error).__name__)
        return None


def _start(
    running: dict[K, asyncio.Task[T]], key: K, work: Coroutine[Any, Any, T]
) -> asyncio.Task[T]:
    """Run ``work`` as ``running[key]`` until it is done."""
    task = asyncio.create_task(work)
    running[key] = task

    def forget(done: asyncio.Task[T]) -> None:
        if running.get(key) is done:
            del running[key]
        if not done.cancelled():
            done.exception()  # retrieved: no "never retrieved" warning if all left

    task.add_done_callback(forget)
    return task


async def _shared(
    running: dict[K, asyncio.Task[T]],
    key: K,
    start: Callable[[], Coroutine[Any, Any, T]],
) -> T:
    """The result of the task ``running[key]``, started with ``start`` unless one runs: the
    callers asking for one thing at once share one task. A caller that goes away (a client
    disconnected) does not cancel it for the others (``shield``)."""
    task = running.get(key)
    if task is None:
        task = _start(running, key, start())
    return await asyncio.shield(task)


def _unreachable(mirrored: Mirrored, why: str) -> UpstreamUnreachable:
    return UpstreamUnreachable(
        f"the upstream of {mirrored.mirror.prefix} failed: {why}"[:500],
        detail={"mirror": mirrored.mirror.prefix, "name": mirrored.local},
    )
