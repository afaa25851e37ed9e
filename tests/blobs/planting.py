"""Bytes put straight into a driver's storage, behind its back: what a crash or an operator
leaves, for the listing and gc tests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from tagtrail.blobs.driver import BlobDriver
from tagtrail.blobs.filesystem import FilesystemDriver
from tagtrail.blobs.s3 import S3Driver
from tagtrail.types import Digest


async def plant(driver: BlobDriver, path: str, data: bytes, *, age_ms: int = 0) -> None:
    """Write ``data`` at ``path`` under the driver's root; ``age_ms`` back-dates it, which only
    a filesystem can do (object stores set LastModified themselves)."""
    if isinstance(driver, FilesystemDriver):
        target = driver._blobs.parent / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        if age_ms:
            stat = target.stat()
            os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns - age_ms * 1_000_000))
    elif isinstance(driver, S3Driver):
        assert not age_ms, "S3 sets LastModified itself: move gc's clock instead"
        await driver._client.put_object(
            Bucket=driver._bucket, Key=f"{driver._prefix}{path}", Body=data
        )
    else:
        raise AssertionError(f"cannot plant into {driver!r}")


async def exists(driver: BlobDriver, path: str) -> bool:
    if isinstance(driver, FilesystemDriver):
        return (driver._blobs.parent / path).is_file()
    if isinstance(driver, S3Driver):
        listed = await driver._client.list_objects_v2(
            Bucket=driver._bucket, Prefix=f"{driver._prefix}{path}"
        )
        return any(item["Key"] == f"{driver._prefix}{path}" for item in listed.get("Contents", ()))
    raise AssertionError(f"cannot look into {driver!r}")


async def remove(driver: BlobDriver, path: str) -> None:
    """Delete what is at ``path`` under the driver's root, behind its back."""
    if isinstance(driver, FilesystemDriver):
        (driver._blobs.parent / path).unlink()
    elif isinstance(driver, S3Driver):
        await driver._client.delete_object(Bucket=driver._bucket, Key=f"{driver._prefix}{path}")
    else:
        raise AssertionError(f"cannot remove from {driver!r}")


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def commit(driver: BlobDriver, data: bytes, upload_id: str | None = None) -> Digest:
    """Store ``data`` as a blob through the driver, as a push does before linking it."""
    digest = Digest.of(data)
    upload = upload_id or digest.hex[:32]
    await driver.start_upload(upload)
    await driver.append_upload(upload, 0, chunks(data))
    await driver.commit_upload(upload, digest)
    return digest
