"""The mirror-state protocol: what the mirrors know of their upstreams, between checks.

- A *tag check* per mirrored tag: the digest the upstream answered at the last check and when,
  so that a pull asks the upstream at most once per check interval, and so that a move seen
  now is recorded as having happened after the previous check ("between A and B").
- *Watches*: upstream repositories checked every interval, with a lease so that of several
  replicas on one database exactly one runs each round.
- *Fetch leases*: of concurrent pull-throughs of one missing blob, on any replica, one fetches
  it from the upstream; the others wait for it to be stored.
- Writing what was seen: manifests as the upstream served them, tag moves recorded with action
  ``mirror`` (and the previous check's time), upstream history imported with action ``import``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from tagtrail.types import Digest, HistoryEvent, Manifest, RepoName, Tag, TagMove

# History record actions written by mirrors (a push's records have none until issue 16).
MIRROR_ACTION = "mirror"
IMPORT_ACTION = "import"


@dataclass(frozen=True, slots=True)
class TagCheck:
    """The last time the upstream was asked about a tag, and what it answered."""

    digest: Digest | None  # None: the upstream had no such tag
    checked_ms: int
    imported: bool  # the upstream's own history was imported (or found not to exist)


@dataclass(frozen=True, slots=True)
class ImportedMove:
    """A record of the upstream's tag history: the tag pointed at ``digest`` from then on."""

    timestamp_ms: int
    digest: Digest
    media_type: str = ""
    size: int = 0
    # "deleted": the upstream deleted the tag then (``digest``: what it pointed to before).
    event: HistoryEvent = "created"


@dataclass(frozen=True, slots=True)
class Watch:
    """An upstream repository checked every ``interval_s``; tags kept by the regexes."""

    repository: RepoName  # the local name, under the mirror's prefix
    tags: str | None = None  # regex a tag must match in full (None: every tag)
    exclude: str | None = None  # regex of tags left out
    interval_s: int = 300
    platforms: tuple[str, ...] = ()  # index children kept (empty: all), as os/arch[/variant]
    last_round_ms: int | None = None
    last_error: str | None = None
    created_ms: int = 0


class MirrorStateStore(Protocol):
    async def tag_check(self, name: RepoName, tag: Tag) -> TagCheck | None: ...

    async def save_tag_check(self, name: RepoName, tag: Tag, check: TagCheck) -> None: ...

    async def store_mirrored_manifest(self, name: RepoName, manifest: Manifest) -> None:
        """Store ``manifest`` as the upstream served it (verified already), without a tag;
        what it references need not be here yet (blobs are fetched on first pull)."""

    async def record_mirrored_move(
        self,
        name: RepoName,
        tag: Tag,
        manifest: Manifest,
        *,
        previous_check_ms: int | None,
        imported: Sequence[ImportedMove] = (),
        actor: str | None = None,
        rule: str | None = None,
    ) -> TagMove:
        """Store ``manifest`` and point ``tag`` at it, in one transaction, recording the move
        with action ``mirror``, ``actor`` (``mirror:<prefix>``) and ``previous_check_ms`` (the
        move happened after it).

        ``imported``: the upstream's own history of the tag, oldest first, recorded first with
        action ``import`` and the upstream's timestamps, when the tag has no history here yet;
        when its newest record names ``manifest``, the tag points there from that time on and
        no ``mirror`` record is added. ``rule``: the immutable-tag rule covering the tag
        (``types.MoveBy``): an existing tag pointing elsewhere is then not moved (TagImmutable)
        and nothing is written."""

    async def record_mirrored_deletion(
        self,
        name: RepoName,
        tag: Tag,
        *,
        previous_check_ms: int | None,
        actor: str | None = None,
        rule: str | None = None,
    ) -> bool:
        """Untag ``tag`` (the upstream deleted it), recording the deletion with action
        ``mirror`` and ``actor``; False when the tag was not there. The manifest stays.
        With ``rule`` (an immutable-tag rule covers the tag) nothing is deleted: TagImmutable."""

    async def add_watch(self, watch: Watch) -> bool:
        """Add or replace the watch of ``watch.repository``; True when it is new."""

    async def list_watches(self, prefix: str | None = None) -> list[Watch]: ...

    async def remove_watch(self, repository: RepoName) -> bool: ...

    async def claim_watch(
        self, repository: RepoName, owner: str, now_ms: int, lease_ms: int
    ) -> bool:
        """Take the watch's lease until ``now_ms + lease_ms`` when its round is due (its
        interval passed since the last round) and nobody else holds the lease; True when
        taken. Atomic across replicas."""

    async def finish_watch(
        self, repository: RepoName, owner: str, round_ms: int, error: str | None
    ) -> None:
        """Release the lease and note the round (its start time and error, if any)."""

    async def claim_fetch(self, digest: Digest, owner: str, now_ms: int, lease_ms: int) -> bool:
        """Take the lease on fetching blob ``digest`` from an upstream, unless another owner
        holds an unexpired one; True when taken. Atomic across replicas."""

    async def release_fetch(self, digest: Digest, owner: str) -> None: ...
