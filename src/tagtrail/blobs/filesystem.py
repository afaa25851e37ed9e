"""Blobs in a local directory.

Layout under the root: blobs as every driver keeps them (``driver.py`` documents it), and

- ``uploads/<upload id>``: the bytes of an upload in progress.
- ``store-identity``: the marker. Created once: written to a temporary file, fsynced and
  hard-linked into place. Unlike a rename, a link never replaces an existing file, so of two
  processes claiming the storage at once exactly one wins and the other reads its marker.

A blob becomes visible only by ``os.replace`` of a complete, fsynced upload file, so a reader
never sees a partial blob, even after a crash. Its mtime is set to the commit time first.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

from tagtrail.blobs.driver import (
    BLOBS,
    BlobSource,
    LocalFile,
    StoredBlob,
    StoredUpload,
    blob_key,
    digest_at,
)
from tagtrail.blobs.upload_writers import writer_for
from tagtrail.errors import BlobUploadUnknown
from tagtrail.offload import Offload
from tagtrail.types import DIGEST_ALGORITHMS, Digest

_READ_CHUNK = 1024 * 1024
_MARKER = "store-identity"


def _iterate_file(path: Path) -> AsyncIterator[bytes]:
    async def chunks() -> AsyncIterator[bytes]:
        with path.open("rb") as handle:
            while block := handle.read(_READ_CHUNK):
                yield block

    return chunks()


class FilesystemDriver:
    def __init__(self, root: Path) -> None:
        self._root = root
        self._blobs = root / BLOBS
        self._uploads = root / "uploads"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._uploads.mkdir(parents=True, exist_ok=True)
        self._marker = root / _MARKER

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        if not os.access(self._uploads, os.W_OK) or not os.access(self._blobs, os.W_OK):
            raise OSError(f"blob storage under {self._blobs.parent} is not writable")

    def blob_path(self, digest: Digest) -> Path:
        # One Path built from a string: joining three times costs more than the stat (blob GET).
        return Path(f"{self._root}/{blob_key(digest)}")

    def _upload_path(self, upload_id: str) -> Path:
        # Upload ids are generated and validated by the registry layer (hex only), so they
        # cannot name anything outside the uploads directory.
        return self._uploads / upload_id

    async def size(self, digest: Digest) -> int | None:
        try:
            return self.blob_path(digest).stat().st_size
        except FileNotFoundError:
            return None

    async def source(self, digest: Digest) -> BlobSource | None:
        path = self.blob_path(digest)
        try:
            return LocalFile(path, path.stat())
        except FileNotFoundError:
            return None

    async def read(self, digest: Digest) -> AsyncIterator[bytes]:
        return _iterate_file(self.blob_path(digest))

    async def delete(self, digest: Digest) -> None:
        self.blob_path(digest).unlink(missing_ok=True)

    async def stored_blobs(self) -> AsyncIterator[StoredBlob]:
        for algorithm in DIGEST_ALGORITHMS:
            top = self._blobs / algorithm
            for fanout in await asyncio.to_thread(_subdirectories, top):
                # One fan-out directory at a time, off the event loop: a few thousand entries.
                for blob in await asyncio.to_thread(_blobs_in, top / fanout, algorithm):
                    yield blob

    async def stored_uploads(self) -> AsyncIterator[StoredUpload]:
        for name, stat in await asyncio.to_thread(_files_in, self._uploads):
            yield StoredUpload(name, stat.st_mtime_ns // 1_000_000, stat.st_size)

    async def read_marker(self) -> str | None:
        try:
            return self._marker.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None

    async def write_marker(self, identity: str) -> str:
        await asyncio.to_thread(_create_once, self._marker, f"{identity}\n".encode())
        found = await self.read_marker()
        if found is None:
            raise OSError(f"{self._marker} vanished right after it was written")
        return found

    async def start_upload(self, upload_id: str) -> None:
        self._upload_path(upload_id).touch(exist_ok=False)

    async def append_upload(self, upload_id: str, offset: int, chunks: AsyncIterable[bytes]) -> int:
        path = self._upload_path(upload_id)
        try:
            handle = path.open("r+b")
        except FileNotFoundError as exc:
            raise BlobUploadUnknown(detail={"upload": upload_id}) from exc
        with handle:
            # Truncate first: bytes past ``offset`` were written by a request that failed
            # before its offset was recorded, and must not survive.
            handle.truncate(offset)
            handle.seek(offset)
            writer = writer_for(path, handle, offset)
            pieces = Offload(writer.write)
            try:
                async for chunk in chunks:
                    await pieces.submit(chunk)
            finally:
                try:
                    await pieces.wait()  # also on failure: the thread writes to this handle
                finally:
                    await asyncio.to_thread(writer.close)
            return handle.tell()

    async def read_upload(self, upload_id: str) -> AsyncIterator[bytes]:
        return _iterate_file(self._upload_path(upload_id))

    async def commit_upload(self, upload_id: str, digest: Digest) -> None:
        # In a thread: waiting for the disk must not stop this worker's other requests.
        await asyncio.to_thread(_commit, self._upload_path(upload_id), self.blob_path(digest))

    async def cancel_upload(self, upload_id: str) -> None:
        self._upload_path(upload_id).unlink(missing_ok=True)


def _subdirectories(path: Path) -> list[str]:
    try:
        with os.scandir(path) as entries:
            return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))
    except FileNotFoundError:
        return []


def _files_in(path: Path) -> list[tuple[str, os.stat_result]]:
    """Regular files in ``path`` with their stat (a file removed meanwhile is left out)."""
    found = []
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                try:
                    if entry.is_file(follow_symlinks=False):
                        found.append((entry.name, entry.stat(follow_symlinks=False)))
                except FileNotFoundError:
                    continue
    except FileNotFoundError:
        return []
    return found


def _blobs_in(fanout: Path, algorithm: str) -> list[StoredBlob]:
    """The blobs of one ``<algorithm>/<first two hex>`` directory; a file whose name is not a
    digest belonging there is not a blob and is never listed (so never deleted by gc)."""
    blobs = []
    for name, stat in _files_in(fanout):
        digest = digest_at(f"{BLOBS}/{algorithm}/{fanout.name}/{name}")
        if digest is not None:
            blobs.append(StoredBlob(digest, stat.st_mtime_ns // 1_000_000, stat.st_size))
    return blobs


def _commit(source: Path, target: Path) -> None:
    # The upload file's mtime is its last append, possibly long ago; gc's grace period for
    # bytes no row records yet must count from the commit.
    os.utime(source)
    with source.open("rb+") as handle:
        os.fsync(handle.fileno())
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)
    _fsync_dir(target.parent)


def _create_once(target: Path, data: bytes) -> None:
    """Put ``data`` at ``target`` whole and durably, unless ``target`` exists already."""
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(8)}")
    try:
        with temporary.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, target)
        except FileExistsError:
            return  # another process wrote it first: theirs stays
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_dir(target.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
