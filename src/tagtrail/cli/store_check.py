"""How ``serve`` and ``gc`` check that the database and the blob storage are a pair, and what
they say when not (the rule: ``tagtrail.meta.garbage``)."""

from __future__ import annotations

from tagtrail.blobs.factory import open_driver
from tagtrail.cli.common import database_of, storage_of
from tagtrail.config import Settings
from tagtrail.meta.database import Database
from tagtrail.meta.store_identity import database_identity
from tagtrail.registry.store_guard import StoreMismatch, claim_store


class StorageUnavailable(RuntimeError):
    """The blob storage did not answer when the server checked its marker."""


async def claim_storage(database: Database, settings: Settings) -> None:
    """``claim_store`` for a server starting; prints when it wrote the marker."""
    identity = await database_identity(database)
    driver = await open_driver(settings)
    try:
        claimed = await claim_store(identity, driver)
    except StoreMismatch:
        raise
    except Exception as exc:  # any driver's failure (OSError, botocore's): one line, no trace
        raise StorageUnavailable(
            f"the blob storage ({storage_of(settings)}) did not answer: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        await driver.close()
    if claimed:
        print(f"marked the blob storage ({storage_of(settings)}) as store {identity}")


def refusal(exc: StoreMismatch, settings: Settings, refusing: str) -> str:
    """The message: what is refused, why, and the two places the settings name."""
    return (
        f"tagtrail: {refusing}: {exc}\n"
        f"  database:     {database_of(settings)} (store {exc.database})\n"
        f"  blob storage: {storage_of(settings)} (marker: {exc.storage or 'none'})"
    )
