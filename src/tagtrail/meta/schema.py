"""The metadata schema, the single source of truth that Alembic migrations reproduce.

Layout (every table is scoped by repository; blob bytes live in the blob driver):

- ``repositories``: one row per repository name.
- ``blob_links``: which blobs a repository may serve (pushed or mounted into it), with size.
- ``manifests``: manifest bytes per repository and digest, plus parsed subject/artifact type
  for the referrers API.
- ``manifest_refs``: blobs and child manifests each manifest references (validation, GC).
- ``tags``: the current digest of each tag.
- ``tag_history``: every move and deletion of a tag, never rewritten. ``ts_ms`` is strictly
  increasing per (repository, tag), so (repository_id, tag, ts_ms) is unique and is the index a
  history query range-scans.
- ``uploads``: blob upload sessions, so any replica can continue an upload.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

repositories = Table(
    "repositories",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created_ms", BigInteger, nullable=False),
)

blob_links = Table(
    "blob_links",
    metadata,
    Column("repository_id", ForeignKey("repositories.id"), primary_key=True),
    Column("digest", String(200), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Index("ix_blob_links_digest", "digest"),
)

manifests = Table(
    "manifests",
    metadata,
    Column("repository_id", ForeignKey("repositories.id"), primary_key=True),
    Column("digest", String(200), primary_key=True),
    Column("media_type", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("subject", String(200), nullable=True),
    Column("artifact_type", String(255), nullable=True),
    Column("annotations", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Index("ix_manifests_subject", "repository_id", "subject"),
)

manifest_refs = Table(
    "manifest_refs",
    metadata,
    Column("repository_id", ForeignKey("repositories.id"), primary_key=True),
    Column("manifest_digest", String(200), primary_key=True),
    Column("child_digest", String(200), primary_key=True),
    Column("kind", String(16), nullable=False),  # "blob" or "manifest"
    Index("ix_manifest_refs_child", "repository_id", "child_digest"),
)

tags = Table(
    "tags",
    metadata,
    Column("repository_id", ForeignKey("repositories.id"), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("digest", String(200), nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Index("ix_tags_digest", "repository_id", "digest"),
)

tag_history = Table(
    "tag_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repository_id", ForeignKey("repositories.id"), nullable=False),
    Column("tag", String(128), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("digest", String(200), nullable=False),
    Column("event", String(16), nullable=False),  # "created" or "deleted"
    Column("media_type", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    UniqueConstraint("repository_id", "tag", "ts_ms", name="uq_tag_history_tag_ts"),
    Index("ix_tag_history_digest", "repository_id", "digest"),
)

uploads = Table(
    "uploads",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("repository", String(255), nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("started_ms", BigInteger, nullable=False),
)
