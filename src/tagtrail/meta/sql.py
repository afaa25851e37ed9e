"""The metadata store on SQLAlchemy Core (async): SQLite by default, PostgreSQL by URL.

``SqlMetadataStore`` is every store of ``meta.store`` on one database: one object to open, to
close and to hand to ``Registry.build``, which gives each use case only the protocols it uses.
It adds no behaviour of its own; each concept lives in its module (repositories and blob links,
uploads, manifests and tags, history, browsing), and each of those classes also works alone on
a ``Database`` (a use case or a test that needs one concept opens one).
"""

from __future__ import annotations

from tagtrail.meta.database import Database
from tagtrail.meta.sql_browsing import SqlBrowsingStore
from tagtrail.meta.sql_history import SqlHistoryStore
from tagtrail.meta.sql_manifests import SqlManifestStore
from tagtrail.meta.sql_mirror_state import SqlMirrorStateStore
from tagtrail.meta.sql_repositories import SqlRepositoryStore
from tagtrail.meta.sql_restore import SqlRestoreStore
from tagtrail.meta.sql_rules import SqlTagRuleStore
from tagtrail.meta.sql_uploads import SqlUploadStore
from tagtrail.meta.sql_webhooks import SqlWebhookStore


class SqlMetadataStore(
    SqlRepositoryStore,
    SqlUploadStore,
    SqlMirrorStateStore,  # a SqlManifestStore that also writes what mirrors see
    SqlManifestStore,
    SqlHistoryStore,
    SqlRestoreStore,
    SqlBrowsingStore,
    SqlTagRuleStore,
    SqlWebhookStore,
):
    """MetadataStore: all the stores on one database, sharing one repository-id cache."""

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True) -> SqlMetadataStore:
        return cls(await Database.open(url, migrate=migrate))

    async def close(self) -> None:
        await self._db.close()
