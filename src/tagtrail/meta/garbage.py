"""What garbage collection asks of the metadata store, and the rule it applies.

The rule, per repository (``keep``): the roots are the manifests a current tag points to,
those a tag-history record inside the retention window names (and, per tag, the digest it
pointed to when the window opened), manifests never tagged (pushed by digest alone) unless
untagged ones are collected, and every manifest younger than the grace period. Kept are the
roots, the manifests they reach (index children) and the referrers of kept manifests, to a
fixpoint. Blob links go when no kept manifest references them and they are older than the
grace period. Blob bytes go only when no repository links the digest and no manifest anywhere
references it.

Bytes no row records at all (a push killed between the driver's commit and the link, or links
removed by an earlier gc that failed to delete the bytes) go by the same test, found from the
blob driver's listing, when the driver stamped them (at commit) before the grace period. Sound
against the push in flight, whose order is: commit the bytes, link the digest under its lock,
then check the bytes are still there (``registry.uploads``). gc lists the bytes, asks which
digests rows name, and deletes each remaining one only under that lock after asking again. A
link committed before that check keeps the bytes; one after it finds them gone and the push
fails instead of being acknowledged. So nothing acknowledged ever loses its bytes, and the grace
period makes even that failure need a push stalled between its commit and its link for longer
than the grace (clock skew between gc and the storage eats into the period, not into safety).

Upload data the driver holds with no upload-session row goes when older than the grace period.
A session's row is written before its data and deleted only as the upload ends (its data
committed, discarded or expired), and gc lists the data before asking for the rows, so data
listed without a row is never a live upload's; the grace period is a margin on top.

All of this holds only for the blob storage that belongs to the database. Pointed at another
database (staging's with production's bucket, or a new empty one after a typo in its URL), gc
would find every blob unrecorded, and even the row-based pass would delete bytes that database
links nowhere but the storage's own database still needs. So the database holds a store
identity (``meta.store_identity``: a random id in a one-row table, made by migration 0003) and
the storage a marker naming it (``BlobDriver.read_marker``), and gc runs only when the two
agree: otherwise it refuses the whole run, dry runs too, before deleting anything
(``registry.store_guard``). gc never writes the marker; ``tagtrail serve`` does, on its first
start against a storage without one (new, or from a version without markers, whose pairing
nothing can check: the configuration it ran with is trusted), and refuses to start when the
marker names another identity. A dump restored into a new database keeps the identity (a
row); a new empty database gets an identity of its own and is refused.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from tagtrail.types import UploadSession


@dataclass(frozen=True, slots=True)
class GcPolicy:
    now_ms: int
    grace_ms: int
    retention_ms: int | None  # None: history records name what they name forever
    delete_untagged: bool
    dry_run: bool

    @property
    def young_after_ms(self) -> int:
        return self.now_ms - self.grace_ms

    @property
    def window_start_ms(self) -> int | None:
        return None if self.retention_ms is None else self.now_ms - self.retention_ms


@dataclass(frozen=True, slots=True)
class Collected:
    """One thing gc removes (or would): a manifest or a blob link of ``repository``, or blob
    bytes (``repository`` empty)."""

    repository: str
    # "manifest", "blob" (a repository's link), "blob bytes" (no link left after the sweep) or
    # "orphaned blob bytes" (no row at all: found by listing the driver)
    kind: str
    digest: str
    size: int


@dataclass
class RepositoryGraph:
    """What gc reads of one repository."""

    manifests: dict[str, tuple[int, str | None]] = field(default_factory=dict)  # created, subj
    children: dict[str, set[str]] = field(default_factory=dict)  # child manifests
    blobs_of: dict[str, set[str]] = field(default_factory=dict)  # referenced blobs
    tagged: set[str] = field(default_factory=set)  # current tags' digests
    history: list[tuple[str, int, str, str]] = field(default_factory=list)  # tag ts digest ev


def keep(graph: RepositoryGraph, policy: GcPolicy) -> set[str]:
    """The manifests of one repository that gc keeps (see the module's rule)."""
    roots = set(graph.tagged)
    start = policy.window_start_ms
    before_window: dict[str, tuple[int, str, str]] = {}
    ever_tagged = set()
    for tag, ts, digest, event in graph.history:
        ever_tagged.add(digest)
        if start is None or ts >= start:
            roots.add(digest)
        elif tag not in before_window or before_window[tag][0] < ts:
            before_window[tag] = (ts, digest, event)
    roots.update(digest for _, digest, event in before_window.values() if event == "created")
    for digest, (created, _) in graph.manifests.items():
        young = created > policy.young_after_ms
        if young or (not policy.delete_untagged and digest not in ever_tagged):
            roots.add(digest)
    kept: set[str] = set()
    pending = [d for d in roots if d in graph.manifests]
    referrers: dict[str, list[str]] = {}
    for digest, (_, subject) in graph.manifests.items():
        if subject is not None:
            referrers.setdefault(subject, []).append(digest)
    while pending:
        digest = pending.pop()
        if digest in kept:
            continue
        kept.add(digest)
        for child in (*graph.children.get(digest, ()), *referrers.get(digest, ())):
            if child in graph.manifests and child not in kept:
                pending.append(child)
    return kept


def referenced_blobs(graph: RepositoryGraph, manifests: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for digest in manifests:
        found |= graph.blobs_of.get(digest, set())
    return found


class GarbageStore(Protocol):
    async def store_identity(self) -> str:
        """The database's store identity, which the storage's marker must name."""

    async def repositories(self) -> list[str]: ...

    async def sweep_repository(self, name: str, policy: GcPolicy) -> list[Collected]:
        """Remove (unless dry run) what ``keep`` does not keep, atomically, excluding
        concurrent manifest pushes into the repository; what was (or would be) removed."""

    async def delete_blob_if_orphan(
        self, digest: str, delete: Callable[[], Awaitable[None]]
    ) -> bool:
        """Call ``delete`` (the bytes) when nothing links or references ``digest``, under a
        lock that linking the digest also takes; whether it was called."""

    async def links_of(self, digest: str) -> set[str]:
        """The repositories that link ``digest``."""

    async def recorded_blobs(self, digests: Sequence[str]) -> set[str]:
        """Those of ``digests`` that a blob link or a manifest reference names (any number of
        digests: the store batches)."""

    async def recorded_uploads(self, upload_ids: Sequence[str]) -> set[str]:
        """Those of ``upload_ids`` that have an upload-session row."""

    async def expired_uploads(self, started_before_ms: int) -> list[UploadSession]: ...

    async def delete_upload(self, upload_id: str) -> None: ...
