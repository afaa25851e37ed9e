"""The blob-driver protocol, and where every driver keeps a blob.

A driver stores content-addressed blobs and the in-progress data of upload sessions. It does
not know which repository a blob belongs to (the metadata store does) and never decides whether
a digest is right: the registry layer verifies before it calls ``commit_upload``.

Storage layout, under a driver's root directory or key prefix (documented once, here; each
driver's module adds what only it keeps):

- ``blobs/<algorithm>/<first two hex>/<hex>``: committed blobs, written once, never modified
  (``blob_key``; ``digest_at`` reads a key back). The two-character fan-out keeps directories
  and listings to a few thousand entries; anything under ``blobs/`` not at its digest's place
  is not a blob, so no listing shows it and gc never deletes it.
- ``uploads/<upload id>...``: the data of an upload in progress (per driver).
- ``store-identity``: the marker naming the database these blobs belong to
  (``tagtrail.meta.garbage``), outside both, so that no listing ever shows it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tagtrail.errors import DigestInvalid
from tagtrail.types import Digest

BLOBS = "blobs"  # the directory, or key prefix, of committed blobs


def blob_key(digest: Digest) -> str:
    """Where the blob ``digest`` lives under a driver's root or prefix."""
    return f"{BLOBS}/{digest.algorithm}/{digest.hex[:2]}/{digest.hex}"


def digest_at(key: str) -> Digest | None:
    """The digest whose blob lives at ``key`` (as ``blob_key`` makes it); None for anything
    else, which is not a blob."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != BLOBS:
        return None
    _, algorithm, fanout, hex_ = parts
    try:
        digest = Digest.parse(f"{algorithm}:{hex_}")
    except DigestInvalid:
        return None
    return digest if fanout == hex_[:2] else None


@dataclass(frozen=True, slots=True)
class LocalFile:
    """The blob is a file on this machine: the server sends it itself (zero-copy)."""

    path: Path
    stat: os.stat_result

    @property
    def size(self) -> int:
        return self.stat.st_size


@dataclass(frozen=True, slots=True)
class Redirect:
    """The blob is served elsewhere, for example a presigned object-storage URL."""

    url: str


@dataclass(frozen=True, slots=True)
class Stream:
    """The driver streams the bytes through this process: ``open(first, last)`` yields the
    bytes of that inclusive range."""

    size: int
    open: Callable[[int, int], AsyncIterator[bytes]]


BlobSource = LocalFile | Redirect | Stream


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """A blob as the driver holds it. ``modified_ms`` is when it was committed (by the
    storage's clock): gc's grace period for bytes no row records counts from it."""

    digest: Digest
    modified_ms: int
    size: int


@dataclass(frozen=True, slots=True)
class StoredUpload:
    """What the driver holds of one upload session; ``modified_ms`` is its latest write."""

    upload_id: str
    modified_ms: int
    size: int


class BlobDriver(Protocol):
    async def close(self) -> None: ...
    async def ping(self) -> None:
        """Raise when the storage cannot be reached (readiness)."""

    async def size(self, digest: Digest) -> int | None:
        """Size of the stored blob, or None when its bytes are not stored."""

    async def source(self, digest: Digest) -> BlobSource | None:
        """How to send the blob's bytes, or None when they are not stored (a redirecting
        driver may presign without looking: the metadata store already vouched for it)."""

    async def read(self, digest: Digest) -> AsyncIterator[bytes]: ...

    async def delete(self, digest: Digest) -> None: ...

    def stored_blobs(self) -> AsyncIterator[StoredBlob]:
        """Every committed blob, in no particular order, without holding them all in memory
        (there can be millions). Blobs committed or deleted meanwhile may or may not show;
        anything in the storage that is not at a blob's place is never listed."""

    def stored_uploads(self) -> AsyncIterator[StoredUpload]:
        """Every upload session the driver holds data of, each once."""

    async def read_marker(self) -> str | None:
        """The store identity the storage's marker names; None when it has no marker. The
        marker lies outside blobs and uploads, so no listing ever shows it."""

    async def write_marker(self, identity: str) -> str:
        """Write the marker naming ``identity`` unless the storage has one, atomically (of
        processes writing at once, exactly one wins, and a marker is never replaced); the
        identity the marker names afterwards: ``identity``, or the one written first."""

    async def start_upload(self, upload_id: str) -> None: ...

    async def append_upload(self, upload_id: str, offset: int, chunks: AsyncIterable[bytes]) -> int:
        """Write ``chunks`` at ``offset`` (the current end) and return the new end."""

    async def read_upload(self, upload_id: str) -> AsyncIterator[bytes]: ...

    async def commit_upload(self, upload_id: str, digest: Digest) -> None:
        """Make the upload's bytes the blob ``digest``, atomically, and drop the upload.
        ``read_upload`` may have been called before; appends may not follow it."""

    async def cancel_upload(self, upload_id: str) -> None: ...
