"""Blobs in S3-compatible object storage, through aiobotocore.

Layout under the configured prefix (documented once, here):

- ``blobs/<algorithm>/<first two hex>/<hex>``: committed blobs.
- ``uploads/<upload id>/state.json``: an upload's state: its multipart upload id, the parts
  written so far (number, ETag, size) and whether it was sealed. Kept in the bucket, so any
  replica can continue any upload.
- ``uploads/<upload id>/buffer``: bytes not yet in a part. S3 parts but the last must be at
  least 5 MiB, so small chunks (streamed or ``Content-Range`` PATCHes) wait here.
- ``uploads/<upload id>/data``: the sealed upload, when its digest had to be computed by
  reading it back (a replica other than the one that received the bytes completes it).
- ``store-identity``: the marker, the store identity of the database these blobs belong to
  (``tagtrail.meta.garbage``). Written with ``If-None-Match: *``, so of two replicas claiming
  the bucket at once exactly one wins and the other reads its marker. A store that ignores
  the condition (S3 honours it since 2024, MinIO too) lets the later write win instead; both
  read back what they wrote only if two different databases claim one store within moments.

A blob becomes visible only when its multipart upload completes (or its single PUT lands),
which S3 makes atomic.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from aiobotocore.session import get_session
from botocore.config import Config
from botocore.exceptions import ClientError

from tagtrail.blobs.driver import BlobSource, Redirect, StoredBlob, StoredUpload, Stream
from tagtrail.config import S3Settings
from tagtrail.errors import BlobUploadInvalid, BlobUploadUnknown, DigestInvalid
from tagtrail.types import Digest

_COPY_LIMIT = 5 * 1024**3  # one CopyObject copies at most 5 GiB
_COPY_PART = 1024**3
_READ_CHUNK = 1024 * 1024
_MARKER = "store-identity"
_MARKER_ATTEMPTS = 5


def _blob_digest(rest: str) -> Digest | None:
    """The digest stored at ``<algorithm>/<first two hex>/<hex>``; None for any other key."""
    parts = rest.split("/")
    if len(parts) != 3:
        return None
    algorithm, fanout, hex_ = parts
    try:
        digest = Digest.parse(f"{algorithm}:{hex_}")
    except DigestInvalid:
        return None
    return digest if fanout == hex_[:2] else None


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _missing(error: ClientError) -> bool:
    return _code(error) in {"404", "NoSuchKey", "NotFound", "NoSuchUpload"}


@dataclass
class _State:
    multipart: str | None = None
    parts: list[dict[str, Any]] = field(default_factory=list)
    buffered: int = 0
    sealed: bool = False

    @property
    def in_parts(self) -> int:
        return sum(int(p["size"]) for p in self.parts)

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "multipart": self.multipart,
                "parts": self.parts,
                "buffered": self.buffered,
                "sealed": self.sealed,
            }
        ).encode()


class S3Driver:
    def __init__(self, client: Any, settings: S3Settings, exits: AsyncExitStack) -> None:
        self._client = client
        self._settings = settings
        self._bucket = settings.bucket
        self._prefix = settings.prefix
        self._exits = exits

    @classmethod
    async def open(cls, settings: S3Settings) -> S3Driver:
        exits = AsyncExitStack()
        client = await exits.enter_async_context(
            get_session().create_client(
                "s3",
                endpoint_url=settings.endpoint,
                region_name=settings.region or "us-east-1",
                aws_access_key_id=settings.access_key_id,
                aws_secret_access_key=settings.secret_access_key,
                config=Config(
                    signature_version="s3v4",
                    s3={"addressing_style": "path"},
                    max_pool_connections=64,
                    retries={"max_attempts": 3, "mode": "standard"},
                ),
            )
        )
        return cls(client, settings, exits)

    async def close(self) -> None:
        await self._exits.aclose()

    async def ping(self) -> None:
        await self._client.head_bucket(Bucket=self._bucket)

    # Keys -----------------------------------------------------------------------------------

    def _blob_key(self, digest: Digest) -> str:
        return f"{self._prefix}blobs/{digest.algorithm}/{digest.hex[:2]}/{digest.hex}"

    def _upload_key(self, upload_id: str, name: str) -> str:
        return f"{self._prefix}uploads/{upload_id}/{name}"

    # Blobs ----------------------------------------------------------------------------------

    async def size(self, digest: Digest) -> int | None:
        try:
            head = await self._client.head_object(Bucket=self._bucket, Key=self._blob_key(digest))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return int(head["ContentLength"])

    async def source(self, digest: Digest) -> BlobSource | None:
        key = self._blob_key(digest)
        if self._settings.redirect:
            # The metadata store vouches for the blob: presigning needs no round trip.
            url = await self._client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self._bucket, "Key": key},
                ExpiresIn=self._settings.presign_seconds,
            )
            return Redirect(str(url))
        size = await self.size(digest)
        if size is None:
            return None

        def open_range(first: int, last: int) -> AsyncIterator[bytes]:
            return self._object_chunks(key, f"bytes={first}-{last}")

        return Stream(size, open_range)

    async def _object_chunks(self, key: str, byte_range: str | None = None) -> AsyncIterator[bytes]:
        params: dict[str, Any] = {"Bucket": self._bucket, "Key": key}
        if byte_range:
            params["Range"] = byte_range
        response = await self._client.get_object(**params)
        async with response["Body"] as body:
            while chunk := await body.read(_READ_CHUNK):
                yield chunk

    async def read(self, digest: Digest) -> AsyncIterator[bytes]:
        return self._object_chunks(self._blob_key(digest))

    async def delete(self, digest: Digest) -> None:
        await self._client.delete_object(Bucket=self._bucket, Key=self._blob_key(digest))

    async def _objects(self, prefix: str) -> AsyncIterator[tuple[str, int, int]]:
        """(key after ``prefix``, LastModified in ms, size) of every object under it."""
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=prefix
        )
        async for page in pages:
            for item in page.get("Contents", ()):
                modified = int(item["LastModified"].timestamp() * 1000)
                yield str(item["Key"])[len(prefix) :], modified, int(item["Size"])

    async def stored_blobs(self) -> AsyncIterator[StoredBlob]:
        async for rest, modified, size in self._objects(f"{self._prefix}blobs/"):
            # LastModified is the commit: the single PUT, the copy, or (a copy in parts) the
            # multipart upload that commit_upload started.
            digest = _blob_digest(rest)
            if digest is not None:
                yield StoredBlob(digest, modified, size)

    async def stored_uploads(self) -> AsyncIterator[StoredUpload]:
        # Keys list in order, so one upload's objects (state, buffer, data) come together.
        current: StoredUpload | None = None
        async for rest, modified, size in self._objects(f"{self._prefix}uploads/"):
            upload_id, slash, _ = rest.partition("/")
            if not slash or not upload_id:
                continue
            if current is not None and current.upload_id != upload_id:
                yield current
                current = None
            if current is None:
                current = StoredUpload(upload_id, modified, size)
            else:
                current = StoredUpload(
                    upload_id, max(current.modified_ms, modified), current.size + size
                )
        if current is not None:
            yield current

    # The store marker ------------------------------------------------------------------------

    async def read_marker(self) -> str | None:
        try:
            data = await self._get(f"{self._prefix}{_MARKER}")
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return data.decode("utf-8").strip()

    async def write_marker(self, identity: str) -> str:
        key = f"{self._prefix}{_MARKER}"
        for attempt in range(1, _MARKER_ATTEMPTS + 1):
            try:
                await self._client.put_object(
                    Bucket=self._bucket, Key=key, Body=f"{identity}\n".encode(), IfNoneMatch="*"
                )
                break
            except ClientError as exc:
                if _code(exc) in {"PreconditionFailed", "412"}:
                    break  # a marker exists: whoever wrote it first won
                # 409: another conditional write of the key is in flight; it decides.
                if _code(exc) != "ConditionalRequestConflict" or attempt == _MARKER_ATTEMPTS:
                    raise
                await asyncio.sleep(0.2 * attempt)
        found = await self.read_marker()
        if found is None:
            raise RuntimeError(f"s3://{self._bucket}/{key} vanished right after it was written")
        return found

    # Uploads --------------------------------------------------------------------------------

    async def _load(self, upload_id: str) -> _State:
        try:
            response = await self._client.get_object(
                Bucket=self._bucket, Key=self._upload_key(upload_id, "state.json")
            )
            async with response["Body"] as body:
                raw = json.loads(await body.read())
        except ClientError as exc:
            if _missing(exc):
                raise BlobUploadUnknown(detail={"upload": upload_id}) from exc
            raise
        return _State(raw["multipart"], raw["parts"], raw["buffered"], raw["sealed"])

    async def _save(self, upload_id: str, state: _State) -> None:
        await self._put(self._upload_key(upload_id, "state.json"), state.to_json())

    async def _put(self, key: str, data: bytes) -> None:
        await self._client.put_object(Bucket=self._bucket, Key=key, Body=data)

    async def _get(self, key: str) -> bytes:
        return b"".join([chunk async for chunk in self._object_chunks(key)])

    async def start_upload(self, upload_id: str) -> None:
        await self._save(upload_id, _State())

    async def append_upload(self, upload_id: str, offset: int, chunks: AsyncIterable[bytes]) -> int:
        state = await self._load(upload_id)
        if state.sealed:
            raise BlobUploadInvalid("upload is being completed", detail={"upload": upload_id})
        if offset < state.in_parts:
            # Bytes that reached a part can't be taken back; the registry never asks this.
            raise BlobUploadInvalid("cannot rewind into written parts", detail={"offset": offset})
        buffer = bytearray()
        keep = offset - state.in_parts  # bytes past ``offset`` were never recorded: dropped
        if keep > 0:
            buffer += (await self._get(self._upload_key(upload_id, "buffer")))[:keep]
        part_size = self._settings.part_size
        async for chunk in chunks:
            buffer += chunk
            while len(buffer) >= part_size:
                await self._upload_part(upload_id, state, bytes(buffer[:part_size]))
                del buffer[:part_size]
        await self._put(self._upload_key(upload_id, "buffer"), bytes(buffer))
        state.buffered = len(buffer)
        await self._save(upload_id, state)
        return state.in_parts + state.buffered

    async def _upload_part(self, upload_id: str, state: _State, data: bytes) -> None:
        if state.multipart is None:
            created = await self._client.create_multipart_upload(
                Bucket=self._bucket, Key=self._upload_key(upload_id, "data")
            )
            state.multipart = str(created["UploadId"])
        number = len(state.parts) + 1
        uploaded = await self._client.upload_part(
            Bucket=self._bucket,
            Key=self._upload_key(upload_id, "data"),
            UploadId=state.multipart,
            PartNumber=number,
            Body=data,
        )
        state.parts.append({"n": number, "etag": uploaded["ETag"], "size": len(data)})

    async def _tail(self, upload_id: str, state: _State) -> bytes:
        if not state.buffered:
            return b""
        return await self._get(self._upload_key(upload_id, "buffer"))

    async def _complete_data(self, upload_id: str, state: _State) -> None:
        """Finish the multipart upload at the data key: the buffer becomes the last part."""
        assert state.multipart is not None
        tail = await self._tail(upload_id, state)
        if tail:
            await self._upload_part(upload_id, state, tail)
            state.buffered = 0
        await self._client.complete_multipart_upload(
            Bucket=self._bucket,
            Key=self._upload_key(upload_id, "data"),
            UploadId=state.multipart,
            MultipartUpload={
                "Parts": [{"PartNumber": p["n"], "ETag": p["etag"]} for p in state.parts]
            },
        )

    async def _copy(self, source: str, target: str, size: int) -> None:
        copy_source = {"Bucket": self._bucket, "Key": source}
        if size <= _COPY_LIMIT:
            await self._client.copy_object(Bucket=self._bucket, Key=target, CopySource=copy_source)
            return
        created = await self._client.create_multipart_upload(Bucket=self._bucket, Key=target)
        parts = []
        for number, first in enumerate(range(0, size, _COPY_PART), start=1):
            last = min(first + _COPY_PART, size) - 1
            copied = await self._client.upload_part_copy(
                Bucket=self._bucket,
                Key=target,
                UploadId=created["UploadId"],
                PartNumber=number,
                CopySource=copy_source,
                CopySourceRange=f"bytes={first}-{last}",
            )
            parts.append({"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]})
        await self._client.complete_multipart_upload(
            Bucket=self._bucket,
            Key=target,
            UploadId=created["UploadId"],
            MultipartUpload={"Parts": parts},
        )

    async def _seal(self, upload_id: str, state: _State) -> None:
        """Make the upload's bytes one readable object at the data key (no more appends)."""
        if state.sealed:
            return
        if state.multipart is None:
            await self._put(self._upload_key(upload_id, "data"), await self._tail(upload_id, state))
        else:
            await self._complete_data(upload_id, state)
        state.sealed = True
        await self._save(upload_id, state)

    async def read_upload(self, upload_id: str) -> AsyncIterator[bytes]:
        await self._seal(upload_id, await self._load(upload_id))
        return self._object_chunks(self._upload_key(upload_id, "data"))

    async def commit_upload(self, upload_id: str, digest: Digest) -> None:
        state = await self._load(upload_id)
        target = self._blob_key(digest)
        size = state.in_parts + state.buffered
        if not state.sealed and state.multipart is None:
            # Small enough for one PUT: straight to its place, nothing to copy.
            await self._put(target, await self._tail(upload_id, state))
        else:
            # Multipart uploads are created before the digest is known, at the data key;
            # the copy to the blob's key is server-side.
            await self._seal(upload_id, state)
            await self._copy(self._upload_key(upload_id, "data"), target, size)
        await self._remove_upload(upload_id, state)

    async def cancel_upload(self, upload_id: str) -> None:
        try:
            state = await self._load(upload_id)
        except BlobUploadUnknown:
            # No state, yet a removal cut short may have left the buffer or the data.
            state = _State()
        await self._remove_upload(upload_id, state)

    async def _remove_upload(self, upload_id: str, state: _State) -> None:
        if state.multipart is not None and not state.sealed:
            try:
                await self._client.abort_multipart_upload(
                    Bucket=self._bucket,
                    Key=self._upload_key(upload_id, "data"),
                    UploadId=state.multipart,
                )
            except ClientError as exc:
                if not _missing(exc):
                    raise
        await self._client.delete_objects(
            Bucket=self._bucket,
            Delete={
                "Objects": [
                    {"Key": self._upload_key(upload_id, name)}
                    for name in ("state.json", "buffer", "data")
                ],
                "Quiet": True,
            },
        )
