"""What the S3 driver does with single objects: its upload-state record, error codes, reading
an object in chunks, copying one server-side (in parts past CopyObject's 5 GiB), and the
multipart uploads open under a prefix."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

_COPY_LIMIT = 5 * 1024**3  # one CopyObject copies at most 5 GiB
_COPY_PART = 1024**3
_READ_CHUNK = 1024 * 1024


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def is_missing(error: ClientError) -> bool:
    return error_code(error) in {"404", "NoSuchKey", "NotFound", "NoSuchUpload"}


def in_flight(error: BaseException) -> bool:
    """A conditional write of the same key is in progress (S3 answers 409)."""
    return isinstance(error, ClientError) and error_code(error) == "ConditionalRequestConflict"


@dataclass
class UploadState:
    """``uploads/<id>/state.json``: the multipart upload, its parts so far (number, ETag,
    size), how many bytes wait in the buffer object, and whether the upload was sealed."""

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


async def object_chunks(
    client: Any, bucket: str, key: str, byte_range: str | None = None
) -> AsyncIterator[bytes]:
    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if byte_range:
        params["Range"] = byte_range
    response = await client.get_object(**params)
    async with response["Body"] as body:
        while chunk := await body.read(_READ_CHUNK):
            yield chunk


async def copy(client: Any, bucket: str, source: str, target: str, size: int) -> None:
    """Copy ``source`` to ``target`` inside the bucket, without the bytes leaving it."""
    copy_source = {"Bucket": bucket, "Key": source}
    if size <= _COPY_LIMIT:
        await client.copy_object(Bucket=bucket, Key=target, CopySource=copy_source)
        return
    created = await client.create_multipart_upload(Bucket=bucket, Key=target)
    parts = []
    for number, first in enumerate(range(0, size, _COPY_PART), start=1):
        last = min(first + _COPY_PART, size) - 1
        copied = await client.upload_part_copy(
            Bucket=bucket,
            Key=target,
            UploadId=created["UploadId"],
            PartNumber=number,
            CopySource=copy_source,
            CopySourceRange=f"bytes={first}-{last}",
        )
        parts.append({"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]})
    await client.complete_multipart_upload(
        Bucket=bucket, Key=target, UploadId=created["UploadId"], MultipartUpload={"Parts": parts}
    )


@dataclass(frozen=True, slots=True)
class OpenMultipart:
    key: str
    upload_id: str
    initiated_ms: int


async def open_multipart(client: Any, bucket: str, prefix: str) -> AsyncIterator[OpenMultipart]:
    """The multipart uploads begun and neither completed nor aborted under ``prefix``."""
    pages = client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix)
    async for page in pages:
        for item in page.get("Uploads", ()):
            initiated = int(item["Initiated"].timestamp() * 1000)
            yield OpenMultipart(str(item["Key"]), str(item["UploadId"]), initiated)


async def abort_multipart(client: Any, bucket: str, key: str, upload_id: str) -> None:
    """Abort the multipart upload (its parts go with it); one that is gone already is fine."""
    try:
        await client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except ClientError as exc:
        if not is_missing(exc):
            raise
