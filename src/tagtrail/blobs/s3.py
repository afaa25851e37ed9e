"""Blobs in S3-compatible object storage, through aiobotocore.

Layout under the configured prefix: blobs as every driver keeps them (``driver.py`` documents
it), and

- ``uploads/<upload id>/state.json``: an upload's state: its multipart upload id, the parts
  written so far (number, ETag, size) and whether it was sealed. Kept in the bucket, so any
  replica can continue any upload.
- ``uploads/<upload id>/buffer``: bytes not yet in a part. S3 parts but the last must be at
  least 5 MiB, so small chunks (streamed or ``Content-Range`` PATCHes) wait here.
- ``uploads/<upload id>/data``: the sealed upload, when its digest had to be computed by
  reading it back (a replica other than the one that received the bytes completes it); before
  that, the key of the upload's multipart upload. A process killed between creating the
  multipart upload and saving its id in the state leaves one the state does not name: listing
  uploads and cancelling one look for the open multipart uploads at the key as well, so gc
  finds and aborts it (with its parts) like any other upload data.
- ``store-identity``: the marker. Written with ``If-None-Match: *``, so of two replicas claiming
  the bucket at once exactly one wins and the other reads its marker. A store that ignores
  the condition (S3 honours it since 2024, MinIO too) lets the later write win instead; both
  read back what they wrote only if two different databases claim one store within moments.

A blob becomes visible only when its multipart upload completes (or its single PUT lands),
which S3 makes atomic.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

from aiobotocore.session import get_session
from botocore.config import Config
from botocore.exceptions import ClientError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_incrementing

from tagtrail.blobs.driver import (
    BLOBS,
    BlobSource,
    Redirect,
    StoredBlob,
    StoredUpload,
    Stream,
    blob_key,
    digest_at,
)
from tagtrail.blobs.s3_objects import (
    UploadState,
    abort_multipart,
    copy,
    error_code,
    in_flight,
    is_missing,
    object_chunks,
    open_multipart,
)
from tagtrail.config import S3Settings
from tagtrail.errors import BlobUploadInvalid, BlobUploadUnknown
from tagtrail.types import Digest

_MARKER = "store-identity"
_MARKER_ATTEMPTS = 5

# One session per process: each loads the service model from disk (0.5 s), and a session keeps
# nothing of a client or an event loop, so drivers opened later (gc, tests) reuse its models.
_session = functools.cache(get_session)


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
        secret = settings.secret_access_key
        client = await exits.enter_async_context(
            _session().create_client(
                "s3",
                endpoint_url=settings.endpoint,
                region_name=settings.region or "us-east-1",
                aws_access_key_id=settings.access_key_id,
                aws_secret_access_key=secret.get_secret_value() if secret else None,
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
        return f"{self._prefix}{blob_key(digest)}"

    def _upload_key(self, upload_id: str, name: str) -> str:
        return f"{self._prefix}uploads/{upload_id}/{name}"

    # Blobs ----------------------------------------------------------------------------------

    async def size(self, digest: Digest) -> int | None:
        try:
            head = await self._client.head_object(Bucket=self._bucket, Key=self._blob_key(digest))
        except ClientError as exc:
            if is_missing(exc):
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

    def _object_chunks(self, key: str, byte_range: str | None = None) -> AsyncIterator[bytes]:
        return object_chunks(self._client, self._bucket, key, byte_range)

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
        async for rest, modified, size in self._objects(f"{self._prefix}{BLOBS}/"):
            # LastModified is the commit: the single PUT, the copy, or (a copy in parts) the
            # multipart upload that commit_upload started.
            digest = digest_at(f"{BLOBS}/{rest}")
            if digest is not None:
                yield StoredBlob(digest, modified, size)

    async def stored_uploads(self) -> AsyncIterator[StoredUpload]:
        prefix = f"{self._prefix}uploads/"
        # Open multipart uploads (as many as uploads in progress, not millions) first: one
        # whose upload has no object left is listed too, as of when it began.
        multipart: dict[str, int] = {}
        async for open_ in open_multipart(self._client, self._bucket, prefix):
            upload_id = open_.key[len(prefix) :].partition("/")[0]
            multipart[upload_id] = max(multipart.get(upload_id, 0), open_.initiated_ms)
        # Keys list in order, so one upload's objects (state, buffer, data) come together.
        current: StoredUpload | None = None
        async for rest, modified, size in self._objects(prefix):
            upload_id, slash, _ = rest.partition("/")
            if not slash or not upload_id:
                continue
            if current is not None and current.upload_id != upload_id:
                yield current
                current = None
            if current is None:
                began = multipart.pop(upload_id, modified)
                current = StoredUpload(upload_id, max(modified, began), size)
            else:
                current = StoredUpload(
                    upload_id, max(current.modified_ms, modified), current.size + size
                )
        if current is not None:
            yield current
        for upload_id, began in multipart.items():
            if upload_id:
                yield StoredUpload(upload_id, began, 0)

    # The store marker ------------------------------------------------------------------------

    async def read_marker(self) -> str | None:
        try:
            data = await self._get(f"{self._prefix}{_MARKER}")
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise
        return data.decode("utf-8").strip()

    async def write_marker(self, identity: str) -> str:
        key = f"{self._prefix}{_MARKER}"
        # 409: another conditional write of the key is in flight; it decides, so ask again
        # after 0.2 s, 0.4 s, ... (_MARKER_ATTEMPTS in all).
        retrying = AsyncRetrying(
            retry=retry_if_exception(in_flight),
            wait=wait_incrementing(start=0.2, increment=0.2),
            stop=stop_after_attempt(_MARKER_ATTEMPTS),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await self._create_marker(key, identity)
        found = await self.read_marker()
        if found is None:
            raise RuntimeError(f"s3://{self._bucket}/{key} vanished right after it was written")
        return found

    async def _create_marker(self, key: str, identity: str) -> None:
        try:
            await self._client.put_object(
                Bucket=self._bucket, Key=key, Body=f"{identity}\n".encode(), IfNoneMatch="*"
            )
        except ClientError as exc:
            if error_code(exc) not in {"PreconditionFailed", "412"}:
                raise
            # A marker exists: whoever wrote it first won.

    # Uploads --------------------------------------------------------------------------------

    async def _load(self, upload_id: str) -> UploadState:
        try:
            response = await self._client.get_object(
                Bucket=self._bucket, Key=self._upload_key(upload_id, "state.json")
            )
            async with response["Body"] as body:
                raw = json.loads(await body.read())
        except ClientError as exc:
            if is_missing(exc):
                raise BlobUploadUnknown(detail={"upload": upload_id}) from exc
            raise
        return UploadState(raw["multipart"], raw["parts"], raw["buffered"], raw["sealed"])

    async def _save(self, upload_id: str, state: UploadState) -> None:
        await self._put(self._upload_key(upload_id, "state.json"), state.to_json())

    async def _put(self, key: str, data: bytes) -> None:
        await self._client.put_object(Bucket=self._bucket, Key=key, Body=data)

    async def _get(self, key: str) -> bytes:
        return b"".join([chunk async for chunk in self._object_chunks(key)])

    async def start_upload(self, upload_id: str) -> None:
        await self._save(upload_id, UploadState())

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

    async def _upload_part(self, upload_id: str, state: UploadState, data: bytes) -> None:
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

    async def _tail(self, upload_id: str, state: UploadState) -> bytes:
        if not state.buffered:
            return b""
        return await self._get(self._upload_key(upload_id, "buffer"))

    async def _complete_data(self, upload_id: str, state: UploadState) -> None:
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

    async def _seal(self, upload_id: str, state: UploadState) -> None:
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
            await copy(
                self._client, self._bucket, self._upload_key(upload_id, "data"), target, size
            )
        await self._remove_upload(upload_id, state)

    async def cancel_upload(self, upload_id: str) -> None:
        try:
            state = await self._load(upload_id)
        except BlobUploadUnknown:
            # No state, yet a removal cut short may have left the buffer or the data.
            state = UploadState()
        # Every multipart upload at the data key, not only the state's: a process killed
        # before it saved a new one's id left it open, its parts stored and billed.
        key = self._upload_key(upload_id, "data")
        async for open_ in open_multipart(self._client, self._bucket, key):
            if open_.key == key and open_.upload_id != state.multipart:
                await abort_multipart(self._client, self._bucket, key, open_.upload_id)
        await self._remove_upload(upload_id, state)

    async def _remove_upload(self, upload_id: str, state: UploadState) -> None:
        if state.multipart is not None and not state.sealed:
            key = self._upload_key(upload_id, "data")
            await abort_multipart(self._client, self._bucket, key, state.multipart)
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
