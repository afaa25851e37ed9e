"""The events tests' backends: the metadata store's tests run on SQLite and PostgreSQL."""

from tests.meta.conftest import anyio_backend, database_url, store, store_url

__all__ = ["anyio_backend", "database_url", "store", "store_url"]
