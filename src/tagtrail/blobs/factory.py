"""The blob driver the settings name."""

from __future__ import annotations

from tagtrail.blobs.driver import BlobDriver
from tagtrail.blobs.filesystem import FilesystemDriver
from tagtrail.config import Settings


async def open_driver(settings: Settings) -> BlobDriver:
    if settings.blob_store == "s3":
        from tagtrail.blobs.s3 import S3Driver  # aiobotocore loads only when S3 is used

        assert settings.s3 is not None  # enforced by Settings
        return await S3Driver.open(settings.s3)
    return FilesystemDriver(settings.data_dir)
