"""Fetching a blob from an upstream once, storing it while the pulls waiting for it stream it.

A pull-through of a blob not held here starts a fetch: a task of its own that writes the
upstream's bytes to a storage upload and hands each chunk to every response listening, so the
first client gets the blob at the upstream's pace rather than after it is stored. The fetch is
not the client's: a client that disconnects leaves it running, and the next pull finds the
blob stored. Concurrent pulls of one blob in one worker share the fetch; across replicas on one
database, a lease (``MirrorStateStore.claim_fetch``) lets one replica fetch while the others
wait for the bytes to appear in the shared storage and then serve them from there.

Nothing unverified reaches a client whole: the last chunk is held back until the upstream's
stream ends verified (``Upstream.open_blob`` raises at the end on a digest mismatch), so on a
mismatch the listening responses are cut short (the client's connection is aborted, not
completed) and the upload is discarded: nothing is stored or linked.

The storage does not set the pace: the disk here takes sequential writes at about half the
pace a local upstream sends (480 against 900 MB/s), so the chunks go to the listeners as they
arrive and to the storage through a backlog of up to ``WRITE_BACKLOG_BYTES``, written by a
task of its own; the upstream is read at the disk's pace only once the backlog is full. The
listeners end as soon as the blob is verified; the blob is linked once its bytes are
committed, and a pull arriving in between waits for that (it finds the fetch running).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from tagtrail import metrics
from tagtrail.blobs.driver import BlobDriver
from tagtrail.clock import now_ms
from tagtrail.meta.mirror_state import MirrorStateStore
from tagtrail.meta.store import BlobLinkStore
from tagtrail.registry.mirror_upstreams import Mirrored
from tagtrail.types import Digest, RepoName
from tagtrail.upstream.blob_stream import PIECE_BYTES
from tagtrail.upstream.client import Upstream

# The lease a replica takes on a fetch; another replica takes over once it expired (the
# fetcher died). Renewed by nothing: a fetch longer than this may be duplicated, never lost.
FETCH_LEASE_MS = 10 * 60 * 1000
WAIT_POLL_SECONDS = 0.1
# Chunks buffered for one listening response; a response that takes none for this long is
# dropped (its connection cut) so that it cannot stall the fetch and the other listeners.
# The upstream's chunks are pieces of PIECE_BYTES (1 MiB): a listener holds at most 16 MiB.
LISTENER_CHUNKS = 16
LISTENER_PATIENCE_SECONDS = 30.0
# Bytes read from the upstream and not yet written: what a fetch holds ahead of the disk.
WRITE_BACKLOG_BYTES = 64 * 1024 * 1024


class FetchFailed(Exception):
    """The fetch broke off after its bytes started to flow (a listener's stream raises it)."""


_END = object()


@dataclass(eq=False)
class Listener:
    queue: asyncio.Queue[object] = field(default_factory=lambda: asyncio.Queue(LISTENER_CHUNKS))


@dataclass(eq=False)
class Fetch:
    """One blob on its way from the upstream into the storage, in this worker."""

    name: RepoName
    digest: Digest
    size: int | None = None  # as the upstream announced it
    error: BaseException | None = None
    elsewhere: bool = False  # another replica fetches it: wait for the storage
    streaming: bool = False  # chunks went out already: a new listener would miss them
    started: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    listeners: set[Listener] = field(default_factory=set)

    def listen(self) -> Listener | None:
        """A listener for the bytes from the start; None once they started to flow."""
        if self.streaming or self.done.is_set():
            return None
        listener = Listener()
        self.listeners.add(listener)
        return listener

    async def chunks(self, listener: Listener) -> AsyncIterator[bytes]:
        """What ``listener`` is handed, ending when the fetch ends; FetchFailed if it fails."""
        try:
            while True:
                item = await listener.queue.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise FetchFailed(f"the upstream's blob {self.digest} broke off") from item
                assert isinstance(item, bytes)
                yield item
        finally:
            self.listeners.discard(listener)  # a client gone: the fetch goes on without it

    async def _send(self, chunk: bytes) -> None:
        self.streaming = True
        for listener in list(self.listeners):
            try:
                async with asyncio.timeout(LISTENER_PATIENCE_SECONDS):
                    await listener.queue.put(chunk)
            except TimeoutError:
                self._drop(listener, FetchFailed("the client took no bytes for too long"))

    def _end(self, error: BaseException | None) -> None:
        """The listeners' last item; they are let go (a later failure to store the blob is
        not theirs: they have it whole)."""
        for listener in list(self.listeners):
            if error is None:
                self._put_last(listener, _END)
            else:
                self._drop(listener, error)
        self.listeners.clear()

    def _put_last(self, listener: Listener, item: object) -> None:
        try:
            listener.queue.put_nowait(item)
        except asyncio.QueueFull:  # a slow client: it gets the end after what it has
            self._drop(listener, FetchFailed("the client fell behind"))

    def _drop(self, listener: Listener, error: BaseException) -> None:
        self.listeners.discard(listener)
        while not listener.queue.empty():
            listener.queue.get_nowait()
        listener.queue.put_nowait(error)


class BlobFetches:
    """The fetches of this worker, by repository and digest."""

    def __init__(
        self,
        state: MirrorStateStore,
        links: BlobLinkStore,
        driver: BlobDriver,
        *,
        clock_ms: Callable[[], int] = now_ms,
        lease_ms: int = FETCH_LEASE_MS,
        poll_seconds: float = WAIT_POLL_SECONDS,
    ) -> None:
        self._state = state
        self._links = links
        self._driver = driver
        self._clock_ms = clock_ms
        self._lease_ms = lease_ms
        self._poll = poll_seconds
        self._owner = f"fetch-{uuid.uuid4().hex}"  # this worker, in the lease table
        self._running: dict[tuple[RepoName, Digest], Fetch] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def join(
        self, mirrored: Mirrored, upstream: Upstream, digest: Digest
    ) -> tuple[Fetch, Listener | None]:
        """The fetch of ``digest`` into ``mirrored``, started unless one runs, and a listener
        of its bytes (None when they flow already: the caller waits for the storage);
        returned once it knows the blob's size, failed, or waits for another replica."""
        key = (mirrored.local, digest)
        fetch = self._running.get(key)
        if fetch is None:
            fetch = Fetch(mirrored.local, digest)
            self._running[key] = fetch
            task = asyncio.create_task(self._run(fetch, mirrored, upstream))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            task.add_done_callback(lambda _: self._running.pop(key, None))
        # Listening before the wait: the fetch may send its first chunks before we resume.
        listener = fetch.listen()
        try:
            await fetch.started.wait()
        except BaseException:
            if listener is not None:
                fetch.listeners.discard(listener)
            raise
        return fetch, listener

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    async def _run(self, fetch: Fetch, mirrored: Mirrored, upstream: Upstream) -> None:
        try:
            while not await self._stored(fetch):
                now = self._clock_ms()
                if await self._state.claim_fetch(fetch.digest, self._owner, now, self._lease_ms):
                    try:
                        if not await self._stored(fetch):  # stored between look and claim?
                            await self._transfer(fetch, mirrored, upstream)
                    finally:
                        await self._state.release_fetch(fetch.digest, self._owner)
                    return
                fetch.elsewhere = True
                fetch.started.set()
                await asyncio.sleep(self._poll)
        except BaseException as exc:
            fetch.error = exc
            fetch._end(exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            fetch.started.set()
            fetch.done.set()

    async def _stored(self, fetch: Fetch) -> bool:
        """Link the blob when its bytes are in the storage already (another replica's)."""
        size = await self._driver.size(fetch.digest)
        if size is None:
            return False
        await self._links.link_blob(fetch.name, fetch.digest, size)
        fetch.elsewhere = True
        return True

    async def _transfer(self, fetch: Fetch, mirrored: Mirrored, upstream: Upstream) -> None:
        upload = f"mirror-{uuid.uuid4().hex}"
        await self._driver.start_upload(upload)
        backlog = _Backlog(max(WRITE_BACKLOG_BYTES // PIECE_BYTES, 1))
        writing = asyncio.create_task(self._store(upload, backlog))
        try:
            async with upstream.open_blob(mirrored.upstream, str(fetch.digest)) as stream:
                fetch.size = stream.size
                fetch.started.set()
                held: bytes | None = None
                async for chunk in stream:  # raises at the end unless verified
                    if held is not None:
                        await fetch._send(held)
                    held = chunk
                    await backlog.put(chunk, writing)
            if held is not None:  # verified: the listeners get the rest
                await fetch._send(held)
            fetch._end(None)
            await backlog.put(None, writing)
            size = await writing
            await self._driver.commit_upload(upload, fetch.digest)
        except BaseException:
            metrics.MIRROR_FAILURES.labels("fetch").inc()
            writing.cancel()
            with contextlib.suppress(BaseException):
                await writing
            with contextlib.suppress(Exception):
                await self._driver.cancel_upload(upload)
            raise
        metrics.MIRROR_FETCHES.inc()
        await self._links.link_blob(fetch.name, fetch.digest, size)

    async def _store(self, upload: str, backlog: _Backlog) -> int:
        try:
            return await self._driver.append_upload(upload, 0, backlog.pieces())
        finally:
            backlog.abandon()


class _StorageStopped(Exception):
    """The storage took no more pieces (its writer failed or was cancelled)."""


class _Backlog:
    """The pieces on their way to the storage, at most ``limit`` of them; None ends them."""

    def __init__(self, limit: int) -> None:
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(limit)
        self._abandoned = False

    async def put(self, piece: bytes | None, writing: asyncio.Task[int]) -> None:
        """Queue ``piece``, waiting while the backlog is full; the writer's own error
        (``writing``'s) when it stopped taking pieces."""
        if self._abandoned:
            await writing  # raises the storage's error
            raise _StorageStopped("the storage stopped taking the blob's bytes")
        await self._queue.put(piece)

    async def pieces(self) -> AsyncIterator[bytes]:
        while (piece := await self._queue.get()) is not None:
            yield piece

    def abandon(self) -> None:
        """No more pieces will be taken: free those queued and whoever waits to add one."""
        self._abandoned = True
        while not self._queue.empty():
            self._queue.get_nowait()
