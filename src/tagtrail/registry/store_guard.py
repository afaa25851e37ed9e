"""Whether a metadata database and a blob storage are a pair (the rule: ``meta.garbage``).

``claim_store`` is for a server starting: it writes the marker on an unclaimed storage and
refuses one claimed by another database. ``require_same_store`` is for gc, which never claims.
"""

from __future__ import annotations

from tagtrail.blobs.driver import BlobDriver


class StoreMismatch(RuntimeError):
    """The blob storage's marker names another store than the database's identity, or (gc
    only) the storage has no marker yet."""

    def __init__(self, database: str, storage: str | None) -> None:
        self.database = database
        self.storage = storage
        if storage is None:
            message = (
                f"the blob storage has no store marker, so nothing shows that it belongs to "
                f"this database (store {database}); `tagtrail serve` writes the marker when it "
                f"first starts on the two"
            )
        else:
            message = (
                f"the blob storage belongs to store {storage}, but this database is store "
                f"{database}: the database URL and the blob storage settings (data directory, "
                f"or S3 bucket and prefix) must name the database and storage that were used "
                f"together"
            )
        super().__init__(message)


async def claim_store(identity: str, driver: BlobDriver) -> bool:
    """Make sure the storage belongs to the database whose identity this is: write the marker
    when the storage has none (a new storage, or one from before markers existed, whose
    blobs no gc deleted for lack of rows), refuse when it names another. Whether it had none."""
    found = await driver.read_marker()
    unclaimed = found is None
    if found is None:
        found = await driver.write_marker(identity)
    if found != identity:
        raise StoreMismatch(identity, found)
    return unclaimed


async def require_same_store(identity: str, driver: BlobDriver) -> None:
    """Refuse unless the storage's marker names ``identity``."""
    found = await driver.read_marker()
    if found != identity:
        raise StoreMismatch(identity, found)
