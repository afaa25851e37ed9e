"""Blobs in a local directory.

Layout under the root (documented once, here):

- ``blobs/<algorithm>/<first two hex>/<hex>``: committed blobs, written once, never modified.
- ``uploads/<upload id>``: the bytes of an upload in progress.

A blob becomes visible only by ``os.replace`` of a complete, fsynced upload file, so a reader
never sees a partial blob, even after a crash.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

from tagtrail.blobs.driver import BlobSource, LocalFile
from tagtrail.errors import BlobUploadUnknown
from tagtrail.types import Digest

_READ_CHUNK = 1024 * 1024


def _iterate_file(path: Path) -> AsyncIterator[bytes]:
    async def chunks() -> AsyncIterator[bytes]:
        with path.open("rb") as handle:
            while block := handle.read(_READ_CHUNK):
                yield block

    return chunks()


class FilesystemDriver:
    def __init__(self, root: Path) -> None:
        self._blobs = root / "blobs"
        self._uploads = root / "uploads"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._uploads.mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        if not os.access(self._uploads, os.W_OK) or not os.access(self._blobs, os.W_OK):
            raise OSError(f"blob storage under {self._blobs.parent} is not writable")

    def blob_path(self, digest: Digest) -> Path:
        return self._blobs / digest.algorithm / digest.hex[:2] / digest.hex

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
            async for chunk in chunks:
                handle.write(chunk)
            return handle.tell()

    async def read_upload(self, upload_id: str) -> AsyncIterator[bytes]:
        return _iterate_file(self._upload_path(upload_id))

    async def commit_upload(self, upload_id: str, digest: Digest) -> None:
        source = self._upload_path(upload_id)
        target = self.blob_path(digest)
        with source.open("rb+") as handle:
            os.fsync(handle.fileno())
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        _fsync_dir(target.parent)

    async def cancel_upload(self, upload_id: str) -> None:
        self._upload_path(upload_id).unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
