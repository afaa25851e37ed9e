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
- ``uploads``: blob upload sessions, so any replica can continue an upload. Keyed by
  repository name: an upload alone does not create a repository.

Accounts and access (revision 0002):

- ``users``: password hashes are argon2 (PHC strings).
- ``organisations``: own the first path component of repository names; a default visibility.
- ``memberships``: a user's role in an organisation (pull, push, admin).
- ``repository_settings``: a visibility per repository name, overriding its organisation's.
- ``pull_tokens``: robot credentials of one organisation. Their secrets are 256-bit random
  values, stored as SHA-256 (a slow hash protects guessable passwords, not random keys).

Store identity (revision 0003):

- ``store_identity``: one row (``id`` 1), the random id the blob storage's marker must name
  for gc to touch it (the rule: ``tagtrail.meta.garbage``).

Mirrors (revision 0004):

- ``mirrors``: an upstream registry per local prefix (an organisation of its own), its
  credentials (the password sealed: ``tagtrail.meta.credentials``), check interval and status.

Mirror state (revision 0005; the rules: ``tagtrail.meta.mirror_state``):

- ``tag_history.action``: who wrote the record, for the mirrors' ``mirror`` (a move seen
  upstream) and ``import`` (a record of the upstream's own history); NULL for pushes before
  revision 0006, which records every action (``push``, ``delete``, ``restore`` too).
  ``tag_history.previous_check_ms``: for ``mirror`` records, the check before the one that saw
  the move (it happened between the two).
- ``mirror_tag_checks``: per mirrored tag, the digest the upstream answered and when.
- ``mirror_watches``: upstream repositories checked every interval; a lease (owner, until)
  makes one replica run each round.
- ``mirror_fetches``: a lease per blob being fetched from an upstream, so replicas fetch once.

Actors (revision 0006): ``tag_history.actor``, who made the move (``types.MoveBy``); NULL,
unknown, for records from before.

Tag rules (revision 0007; the matching: ``tagtrail.registry.tag_rules``):

- ``tag_rules``: immutable-tag patterns per organisation, optionally narrowed to a repository
  glob, with exempted patterns. A removal stamps ``removed_ms``/``removed_by`` rather than
  deleting the row, which is the audit record of it.

Webhooks (revision 0008; the rules: ``tagtrail.meta.webhooks``):

- ``webhooks``: subscribers (URL, format, sealed signing secret, repository glob, actions).
- ``webhook_events``: the outbox: one row per tag move that some webhook wants, written in the
  transaction of its history record; ``id`` is the event's stable id (de-duplication).
- ``webhook_deliveries``: one per webhook and event: state (pending, delivered, failed),
  attempts, the next attempt's time, the last answer, and a lease (owner, until) that makes
  one replica send it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
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
    Column("action", String(16), nullable=True),
    Column("previous_check_ms", BigInteger, nullable=True),
    Column("actor", String(255), nullable=True),
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

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("is_admin", Boolean, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

organisations = Table(
    "organisations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("visibility", String(1024), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

memberships = Table(
    "memberships",
    metadata,
    Column("organisation_id", ForeignKey("organisations.id"), primary_key=True),
    Column("user_id", ForeignKey("users.id"), primary_key=True),
    Column("role", String(16), nullable=False),
)

repository_settings = Table(
    "repository_settings",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("visibility", String(1024), nullable=False),
)

pull_tokens = Table(
    "pull_tokens",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("organisation_id", ForeignKey("organisations.id"), nullable=False),
    Column("secret_sha256", String(64), nullable=False),
    Column("can_push", Boolean, nullable=False),
    Column("expires_ms", BigInteger, nullable=True),
    Column("revoked_ms", BigInteger, nullable=True),
    Column("description", String(255), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

store_identity = Table(
    "store_identity",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("identity", String(36), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="ck_store_identity_one_row"),
)

mirrors = Table(
    "mirrors",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("prefix", String(255), nullable=False, unique=True),
    Column("url", String(2048), nullable=False),
    Column("username", String(255), nullable=True),
    Column("password_sealed", Text, nullable=True),
    Column("check_interval_s", Integer, nullable=False, server_default="60"),
    Column("status", String(255), nullable=False, server_default="unchecked"),
    Column("created_ms", BigInteger, nullable=False),
)

mirror_tag_checks = Table(
    "mirror_tag_checks",
    metadata,
    Column("repository", String(255), primary_key=True),
    Column("tag", String(128), primary_key=True),
    Column("digest", String(200), nullable=True),
    Column("checked_ms", BigInteger, nullable=False),
    Column("imported", Boolean, nullable=False),
)

mirror_watches = Table(
    "mirror_watches",
    metadata,
    Column("repository", String(255), primary_key=True),
    Column("tags", String(1024), nullable=True),
    Column("exclude", String(1024), nullable=True),
    Column("interval_s", Integer, nullable=False),
    Column("platforms", String(1024), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("last_round_ms", BigInteger, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until_ms", BigInteger, nullable=True),
)

mirror_fetches = Table(
    "mirror_fetches",
    metadata,
    Column("digest", String(200), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("until_ms", BigInteger, nullable=False),
)

tag_rules = Table(
    "tag_rules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("organisation", String(255), nullable=False),
    Column("repository", String(255), nullable=True),
    Column("tag_pattern", String(255), nullable=False),
    Column("except_patterns", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(255), nullable=True),
    Column("removed_ms", BigInteger, nullable=True),
    Column("removed_by", String(255), nullable=True),
    Index("ix_tag_rules_organisation", "organisation"),
)


webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", String(2048), nullable=False),
    Column("format", String(16), nullable=False),
    Column("secret_sealed", Text, nullable=True),
    Column("repos", String(1024), nullable=True),
    Column("actions", String(255), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("repository_id", ForeignKey("repositories.id"), nullable=False),
    Column("tag", String(128), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("event", String(16), nullable=False),
    Column("action", String(16), nullable=False),
    Column("actor", String(255), nullable=True),
    Column("digest", String(200), nullable=False),
    Column("previous", String(200), nullable=True),
    Column("media_type", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("webhook_id", ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("event_id", ForeignKey("webhook_events.id"), nullable=False),
    Column("repository_id", Integer, nullable=False),
    Column("tag", String(128), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("since_ms", BigInteger, nullable=False),
    Column("next_attempt_ms", BigInteger, nullable=False),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("done_ms", BigInteger, nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until_ms", BigInteger, nullable=True),
    Index("ix_webhook_deliveries_due", "state", "next_attempt_ms"),
    Index("ix_webhook_deliveries_tag", "webhook_id", "repository_id", "tag", "state", "id"),
)
