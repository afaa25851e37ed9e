"""The metadata-store protocols: what the use cases ask of a database, one concept each.

A use case takes only the protocols it uses (``Uploads`` takes uploads and blob links, the web
UI's ``Browsing`` takes browsing, history, manifests and repositories). The SQL stores implement
them one module a concept (``sql_repositories``, ``sql_uploads``, ``sql_manifests``,
``sql_history``, ``sql_browsing``); ``MetadataStore`` is all of them, what ``sql`` opens and
the wiring hands out. Accounts and gc have their own (``accounts``, ``garbage``).

Implementations must make each method atomic. ``put_manifest`` and ``delete_*`` record tag
history in the same transaction as the tag change itself, with per-tag timestamps that are
strictly increasing even when two moves land in the same millisecond.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from tagtrail.meta.mirror_state import MirrorStateStore
from tagtrail.meta.restore import RestoreStore
from tagtrail.meta.rules import TagRuleStore
from tagtrail.types import (
    DELETED,
    PUSHED,
    Digest,
    HistoryRecord,
    Manifest,
    MoveBy,
    Referrer,
    RepoName,
    RepositorySummary,
    StoredManifest,
    Tag,
    TagDetail,
    TagMove,
    UploadSession,
)


class RepositoryStore(Protocol):
    async def repository_exists(self, name: RepoName) -> bool: ...
    async def list_repositories(self, limit: int | None, after: str | None) -> list[str]: ...


class BlobLinkStore(Protocol):
    """Blobs as linked into repositories (the bytes are the blob driver's)."""

    async def blob_size(self, name: RepoName, digest: Digest) -> int | None:
        """Size of ``digest`` when it is linked into ``name``, else None."""

    async def link_blob(self, name: RepoName, digest: Digest, size: int) -> None: ...
    async def unlink_blob(
        self, name: RepoName, digest: Digest, *, refuse_referenced: bool = True
    ) -> bool:
        """Remove the link; False when there was none. Raises Unsupported, naming one, while a
        manifest of ``name`` references the blob (its pulls would fail), unless not
        ``refuse_referenced``; checked excluding concurrent manifest pushes into ``name``."""

    async def missing_blobs(self, name: RepoName, digests: Sequence[Digest]) -> list[Digest]: ...


class UploadStore(Protocol):
    """Upload sessions."""

    async def create_upload(
        self, name: RepoName, upload_id: str, *, limit: int | None = None, since_ms: int = 0
    ) -> UploadSession:
        """A new session; TooManyRequests when ``name`` has ``limit`` sessions started at or
        after ``since_ms`` (older ones have expired)."""

    async def get_upload(self, name: RepoName, upload_id: str) -> UploadSession | None: ...
    async def advance_upload(self, upload_id: str, expected: int, new_offset: int) -> bool:
        """Compare-and-set the offset; False when another writer moved it first."""

    async def delete_upload(self, upload_id: str) -> None: ...


class ManifestStore(Protocol):
    """Manifests and the tags pointing at them (their moves recorded as history)."""

    async def put_manifest(
        self,
        name: RepoName,
        manifest: Manifest,
        tag: Tag | None,
        *,
        verify_refs: bool = False,
        by: MoveBy = PUSHED,
    ) -> TagMove | None:
        """Store the manifest and, with a tag, point the tag at it, recording a move.

        ``verify_refs``: raise ManifestBlobUnknown (ManifestInvalid) unless every blob (child
        manifest) it references is in the repository, checked in the storing transaction and
        excluding a concurrent gc of (or blob delete in) the repository. ``manifest.foreign_refs``
        are exempt. ``by``: who and how, as the history record says (``types.MoveBy``); with
        its ``rule`` set, moving the existing tag raises TagImmutable."""

    async def put_manifest_tags(
        self,
        name: RepoName,
        manifest: Manifest,
        tags: Sequence[Tag],
        *,
        verify_refs: bool = False,
        by: MoveBy | Callable[[Tag], MoveBy] = PUSHED,
    ) -> list[TagMove]:
        """``put_manifest`` pointing every one of ``tags`` at it, in the same transaction:
        one move each (in the order of ``tags``, repeats once), all recorded or none. ``by``
        may say per tag (a callable), as each tag's rule may differ."""

    async def missing_manifests(
        self, name: RepoName, digests: Sequence[Digest]
    ) -> list[Digest]: ...
    async def get_manifest(self, name: RepoName, digest: Digest) -> StoredManifest | None: ...
    async def resolve_tag(self, name: RepoName, tag: Tag) -> StoredManifest | None: ...
    async def delete_tag(self, name: RepoName, tag: Tag, *, by: MoveBy = DELETED) -> bool:
        """Untag ``tag``, recorded; False when it was not there. TagImmutable with ``by.rule``."""

    async def delete_manifest(
        self,
        name: RepoName,
        digest: Digest,
        protect_history: bool,
        *,
        by: Callable[[Tag], MoveBy] = lambda _: DELETED,
    ) -> bool:
        """Delete the manifest and untag its tags (recorded, each as ``by(tag)`` says: a rule
        covering one refuses the whole delete). False when it was not there."""

    async def list_tags(
        self, name: RepoName, limit: int | None, after: str | None
    ) -> list[str]: ...
    async def referrers(
        self, name: RepoName, subject: Digest, artifact_type: str | None
    ) -> list[Referrer]: ...


class HistoryStore(Protocol):
    """Reading tag history (``ManifestStore`` writes it)."""

    async def tag_has_history(self, name: RepoName, tag: Tag) -> bool: ...
    async def history_tags(self, name: RepoName) -> list[str]:
        """Every tag that has (or had) history in ``name``."""

    async def reachable_from_tags(
        self, name: RepoName, tags: Sequence[str], digest: Digest
    ) -> bool:
        """Whether ``digest`` is a manifest some tag in ``tags`` points or pointed to, or a
        manifest or blob reachable from one (index children, config, layers)."""

    async def history(
        self,
        name: RepoName,
        tag: Tag,
        *,
        start_ms: int | None,
        end_ms: int | None,
        limit: int,
        event: str | None = None,
        digest: Digest | None = None,
        newest_first: bool = False,
        with_previous: bool = False,
    ) -> list[HistoryRecord]:
        """Records with start_ms <= ts <= end_ms, at most ``limit``, oldest first by default.

        ``event`` keeps one kind of record ("created" or "deleted"); ``digest`` keeps the records
        of one digest. ``with_previous``: fill in each record's ``previous`` (an extra lookup a
        record, so only where it is shown).
        """


class BrowsingStore(Protocol):
    """Overviews for the web UI."""

    async def repository_summaries(self, names: Sequence[str]) -> list[RepositorySummary]:
        """Tag count and latest tag update of each of ``names`` that exists, by name."""

    async def tag_details(
        self, name: RepoName, limit: int | None, after: str | None
    ) -> list[TagDetail]:
        """Current tags by name (after ``after``, at most ``limit``) with their manifests."""

    async def tags_naming(self, name: RepoName, digest: Digest) -> list[str]:
        """Every tag whose history names ``digest`` (it points or pointed there), by name."""


class MetadataStore(
    RepositoryStore,
    BlobLinkStore,
    UploadStore,
    ManifestStore,
    HistoryStore,
    RestoreStore,
    BrowsingStore,
    MirrorStateStore,
    TagRuleStore,
    Protocol,
):
    """Every store above on one database: what the wiring opens and hands out."""

    async def close(self) -> None: ...
    def data_version(self) -> int | None:
        """A number that changes whenever anything stored changes, by any process, read
        before the reads it vouches for; None when the store cannot tell cheaply."""
        ...

    async def ping(self) -> None:
        """Raise when the database does not answer (readiness)."""
