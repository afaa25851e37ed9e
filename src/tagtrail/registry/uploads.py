"""Blob uploads: sessions, streamed and chunked appends, digest-verified completion, mounts."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
import uuid
import weakref
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache

from tagtrail import metrics
from tagtrail.blobs.driver import BlobDriver
from tagtrail.clock import Clock, now_ms
from tagtrail.errors import (
    BlobTooLarge,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    RangeNotSatisfiable,
)
from tagtrail.meta.store import BlobLinkStore, UploadStore
from tagtrail.offload import Offload
from tagtrail.registry.mirror_guard import MirrorGuard, refuse_writes
from tagtrail.types import Digest, RepoName, UploadSession

_UPLOAD_ID_RE = re.compile(r"[0-9a-f]{32}")
# Uploads whose running hashes a process keeps at most. Past it the least recently used go:
# their completion reads the bytes back instead (a cache, see _Hashers).
MAX_HASHED_UPLOADS = 10_000


@dataclass(frozen=True, slots=True)
class UploadLimits:
    max_bytes: int = 16 * 1024**3
    per_repository: int = 1000
    expiry_ms: int = 86_400_000


@dataclass(frozen=True, slots=True)
class Completed:
    digest: Digest
    size: int


def parse_upload_id(raw: str) -> str:
    if not _UPLOAD_ID_RE.fullmatch(raw):
        raise BlobUploadUnknown(detail={"upload": raw[:100]})
    return raw


def _length(content_range: tuple[int, int] | None) -> int | None:
    return None if content_range is None else content_range[1] - content_range[0] + 1


# Body chunks are gathered into blocks of about this size: few thread hand-offs, and the
# driver writes (or sends to S3) large pieces.
_BLOCK_BYTES = 1 << 20


async def _blocks(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    parts: list[bytes] = []
    held = 0
    async for chunk in chunks:
        parts.append(chunk)
        held += len(chunk)
        if held >= _BLOCK_BYTES:
            yield parts[0] if len(parts) == 1 else b"".join(parts)
            parts, held = [], 0
    if parts:
        yield b"".join(parts)


def _update(hashers: dict[str, Any], block: bytes) -> None:
    for hasher in hashers.values():
        hasher.update(block)


class _Hashers:
    """Running hashes of uploads in progress, so completion need not re-read the bytes.

    Purely a cache: when a session moved on elsewhere (another replica, a restart) the offset
    no longer matches and the digest is computed from the stored bytes instead. So it may
    forget, and does: an upload abandoned by its client (never finished nor cancelled) is
    dropped once its session would have expired (``ttl_ms`` after its last append; TTLCache
    drops expired entries on the next write, or any count), and at most ``maxsize`` uploads are
    held, the least recently used going first.
    """

    def __init__(self, ttl_ms: int, clock: Clock, maxsize: int = MAX_HASHED_UPLOADS) -> None:
        self._states: TTLCache[str, tuple[int, dict[str, Any]]] = TTLCache(
            maxsize, ttl_ms, timer=clock
        )

    def get(self, upload_id: str, offset: int) -> dict[str, Any]:
        cached = self._states.get(upload_id)
        if cached and cached[0] == offset:
            return {alg: h.copy() for alg, h in cached[1].items()}
        if offset == 0:
            # sha256 is what clients send; a sha512 completion re-reads the bytes instead.
            return {"sha256": hashlib.sha256()}
        return {}

    def put(self, upload_id: str, offset: int, hashers: dict[str, Any]) -> None:
        if hashers:
            self._states[upload_id] = (offset, hashers)

    def drop(self, upload_id: str) -> None:
        self._states.pop(upload_id, None)


class Uploads:
    def __init__(
        self,
        sessions: UploadStore,
        links: BlobLinkStore,
        blobs: BlobDriver,
        limits: UploadLimits | None = None,
        *,
        clock: Clock = now_ms,
        guard: MirrorGuard | None = None,
    ) -> None:
        self._guard = guard
        self._sessions = sessions
        self._links = links
        self._blobs = blobs
        self._limits = limits or UploadLimits()
        self._clock = clock
        self._hashers = _Hashers(self._limits.expiry_ms, clock)
        # One lock per upload while a request holds or awaits it, and none after: an entry
        # lives only as long as its lock is referenced (by the requests in ``_lock``), so ids
        # that name nothing, sent by anyone, leave nothing behind.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def start(self, name: RepoName) -> UploadSession:
        await refuse_writes(self._guard, name)
        upload_id = uuid.uuid4().hex
        limits = self._limits
        # The session first: a crash before its bytes exist leaves a row gc expires, never
        # bytes nothing names.
        session = await self._sessions.create_upload(
            name, upload_id, limit=limits.per_repository, since_ms=self._clock() - limits.expiry_ms
        )
        try:
            await self._blobs.start_upload(upload_id)
        except BaseException:
            await self._sessions.delete_upload(upload_id)
            raise
        return session

    async def status(self, name: RepoName, upload_id: str) -> UploadSession:
        session = await self._sessions.get_upload(name, parse_upload_id(upload_id))
        if session is None or session.started_ms < self._clock() - self._limits.expiry_ms:
            # An expired session is gone for the client; gc removes what is left of it.
            self._hashers.drop(upload_id)
            raise BlobUploadUnknown(detail={"upload": upload_id})
        return session

    async def append(
        self,
        name: RepoName,
        upload_id: str,
        body: AsyncIterable[bytes],
        content_range: tuple[int, int] | None,
    ) -> UploadSession:
        """Append a chunk. With a Content-Range it must start at the current end (else 416)."""
        async with self._lock(upload_id):
            session = await self.status(name, upload_id)
            self._check_start(session, content_range)
            new_offset = await self._write(session, body, _length(content_range))
            return UploadSession(session.id, name, new_offset, session.started_ms)

    async def finish(
        self,
        name: RepoName,
        upload_id: str,
        digest: Digest,
        body: AsyncIterable[bytes],
        content_range: tuple[int, int] | None = None,
    ) -> Completed:
        """The closing PUT: append what the body holds, verify the digest, commit, link."""
        async with self._lock(upload_id):
            session = await self.status(name, upload_id)
            self._check_start(session, content_range)
            size = await self._write(session, body, _length(content_range))
            actual = await self._digest_of(upload_id, size, digest.algorithm)
            if actual != digest:
                # As Distribution does: a failed completion ends the session, nothing lingers.
                await self._discard(upload_id)
                raise DigestInvalid(
                    detail={"expected": str(digest), "actual": str(actual)},
                )
            await self._blobs.commit_upload(upload_id, digest)
            await self._sessions.delete_upload(upload_id)
            self._hashers.drop(upload_id)
            await self._link(name, digest, size)
        return Completed(digest, size)

    async def _link(self, name: RepoName, digest: Digest, size: int) -> None:
        """Link the blob, then check its bytes are still there: gc deletes the bytes of an
        unlinked digest under a lock that linking takes too, so after the link they stay, and
        a deletion that came between storing and linking shows here (the client retries)."""
        await self._links.link_blob(name, digest, size)
        if await self._blobs.size(digest) is None:
            await self._links.unlink_blob(name, digest, refuse_referenced=False)
            raise BlobUploadInvalid(
                "the blob was garbage-collected while it was linked; push it again",
                detail={"digest": str(digest)},
            )

    async def monolithic(
        self, name: RepoName, digest: Digest, body: AsyncIterable[bytes]
    ) -> Completed:
        session = await self.start(name)
        try:
            return await self.finish(name, session.id, digest, body)
        except BaseException:
            await self._discard(session.id)
            raise

    async def cancel(self, name: RepoName, upload_id: str) -> None:
        session = await self.status(name, upload_id)
        await self._discard(session.id)

    async def mount(self, name: RepoName, digest: Digest, source: RepoName) -> Completed | None:
        """Link a blob of ``source`` into ``name``; None when ``source`` does not have it."""
        await refuse_writes(self._guard, name)
        size = await self._links.blob_size(source, digest)
        if size is None or await self._blobs.size(digest) is None:
            return None
        await self._link(name, digest, size)
        return Completed(digest, size)

    # -- internals --------------------------------------------------------------------------

    @staticmethod
    def _check_start(session: UploadSession, content_range: tuple[int, int] | None) -> None:
        if content_range is not None and content_range[0] != session.offset:
            raise RangeNotSatisfiable(
                "chunk does not start at the end of the upload",
                detail={"expected_start": session.offset, "start": content_range[0]},
            )

    async def _discard(self, upload_id: str) -> None:
        """Forget an upload session and its bytes; safe to repeat."""
        await self._sessions.delete_upload(upload_id)
        await self._blobs.cancel_upload(upload_id)
        self._hashers.drop(upload_id)

    def _lock(self, upload_id: str) -> asyncio.Lock:
        """The lock of a well-formed upload id (BlobUploadUnknown otherwise), shared by every
        request on the upload while any of them holds a reference to it."""
        lock = self._locks.get(parse_upload_id(upload_id))
        if lock is None:
            lock = self._locks[upload_id] = asyncio.Lock()
        return lock

    async def _write(
        self, session: UploadSession, body: AsyncIterable[bytes], expected: int | None = None
    ) -> int:
        """Append ``body``; the new offset is recorded only when the whole chunk arrived."""
        hashers = self._hashers.get(session.id, session.offset)
        room = self._limits.max_bytes - session.offset

        async def hashed() -> AsyncIterator[bytes]:
            # Each block is hashed in a thread while the driver stores it and the next one
            # arrives: hashing a 100 MB push in the event loop took as long as receiving it.
            nonlocal room
            # A failed write drops these hashers (below), so a hash still running in its
            # thread when the body is refused is left to finish on its own.
            hashing = Offload(functools.partial(_update, hashers))
            async for block in _blocks(body):
                room -= len(block)
                if room < 0:
                    raise BlobTooLarge(detail={"limit": self._limits.max_bytes})
                await hashing.submit(block)
                yield block
            await hashing.wait()

        try:
            with metrics.UPLOADS_IN_PROGRESS.track_inprogress():
                new_offset = await self._blobs.append_upload(session.id, session.offset, hashed())
        except BaseException:
            self._hashers.drop(session.id)
            raise
        if expected is not None and new_offset - session.offset != expected:
            # Not recorded, so the next append truncates these bytes away.
            self._hashers.drop(session.id)
            raise BlobUploadInvalid(
                "chunk length does not match Content-Range",
                detail={"expected": expected, "received": new_offset - session.offset},
            )
        if new_offset == session.offset:
            return new_offset
        if not await self._sessions.advance_upload(session.id, session.offset, new_offset):
            self._hashers.drop(session.id)
            raise RangeNotSatisfiable(
                "upload was changed concurrently", detail={"upload": session.id}
            )
        self._hashers.put(session.id, new_offset, hashers)
        return new_offset

    async def _digest_of(self, upload_id: str, size: int, algorithm: str) -> Digest:
        cached = self._hashers.get(upload_id, size).get(algorithm)
        if cached is None:
            cached = hashlib.new(algorithm)
            async for chunk in await self._blobs.read_upload(upload_id):
                cached.update(chunk)
        return Digest(algorithm, cached.hexdigest())
