"""Pure value types: digests, repository names, tags, and the records the layers exchange.

Parsing functions raise the matching ``tagtrail.errors`` exception; they never return None
for bad input.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, NewType

from tagtrail.errors import DigestInvalid, NameInvalid, TagInvalid

# OCI distribution-spec grammar for repository names (path components joined by "/").
_NAME_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME_RE = re.compile(rf"{_NAME_COMPONENT}(?:/{_NAME_COMPONENT})*")
_TAG_RE = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
MAX_NAME_LENGTH = 255

# Algorithms we accept, with the exact hex length of their encoded part.
DIGEST_ALGORITHMS: dict[str, int] = {"sha256": 64, "sha512": 128}
_DIGEST_RE = re.compile(r"(sha256|sha512):([a-f0-9]+)")

RepoName = NewType("RepoName", str)
Tag = NewType("Tag", str)


def parse_name(raw: str) -> RepoName:
    if len(raw) > MAX_NAME_LENGTH or not _NAME_RE.fullmatch(raw):
        raise NameInvalid(detail={"name": raw[:MAX_NAME_LENGTH]})
    return RepoName(raw)


def parse_tag(raw: str) -> Tag:
    if not _TAG_RE.fullmatch(raw):
        raise TagInvalid(detail={"tag": raw[:200]})
    return Tag(raw)


def is_digest_reference(reference: str) -> bool:
    """A manifest reference is a digest when it carries an algorithm prefix."""
    return ":" in reference


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    hex: str

    @classmethod
    def parse(cls, raw: str) -> Digest:
        match = _DIGEST_RE.fullmatch(raw)
        if not match or len(match.group(2)) != DIGEST_ALGORITHMS[match.group(1)]:
            raise DigestInvalid("invalid digest", detail={"digest": raw[:200]})
        return cls(match.group(1), match.group(2))

    @classmethod
    def stored(cls, raw: str) -> Digest:
        """A digest read back from the metadata store, which holds only parsed ones: no
        second validation (a history page of 1000 records spent a fifth of its time in it)."""
        algorithm, _, hex_digits = raw.partition(":")
        return cls(algorithm, hex_digits)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


# Manifest media types the registry understands as manifests (others are refused).
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
IMAGE_MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_MANIFEST_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFEST_MEDIA_TYPES = IMAGE_MANIFEST_TYPES | INDEX_MANIFEST_TYPES
MAX_MANIFEST_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Manifest:
    """A manifest as stored: its exact bytes and what was parsed out of them."""

    digest: Digest
    media_type: str
    content: bytes
    # Blobs (config, layers) and child manifests it references, for validation and GC.
    blob_refs: tuple[Digest, ...]
    manifest_refs: tuple[Digest, ...]
    subject: Digest | None
    artifact_type: str | None
    annotations_json: str | None
    # Those of ``blob_refs`` that need not be in the repository: non-distributable layers that
    # carry URLs, which clients fetch from there (empty when the registry refuses them).
    foreign_refs: tuple[Digest, ...] = ()

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True, slots=True)
class StoredManifest:
    """A manifest as a pull answers it. ``modified_ms``: what its ``Last-Modified`` says, the
    time the tag moved to this digest when it was looked up by tag (its latest history
    record), else the time the digest was stored in the repository."""

    digest: Digest
    media_type: str
    content: bytes
    modified_ms: int


@dataclass(frozen=True, slots=True)
class Referrer:
    digest: Digest
    media_type: str
    size: int
    artifact_type: str | None
    annotations_json: str | None


HistoryEvent = Literal["created", "deleted"]


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """One move of a tag: it was pointed at ``digest`` (created) or removed (deleted).

    ``action``: how (``MoveBy``'s actions): ``push``, ``delete``, ``restore``, ``mirror`` (a
    move seen on a mirror's upstream, at ``timestamp_ms``, made after ``previous_check_ms`` when
    that is known) or ``import`` (a record of the upstream's own history, with its timestamp).
    Records from before actions were kept read as ``push`` (created) or ``delete`` (deleted).
    ``actor``: who (``MoveBy.actor``), None when unknown (records from before actors were kept).
    ``previous``: the digest the tag pointed to just before the record (a deletion's own digest;
    None for a tag that did not exist), where the read asked for it (``with_previous``).
    """

    timestamp_ms: int
    digest: Digest
    event: HistoryEvent
    media_type: str
    size: int
    action: str | None = None
    previous_check_ms: int | None = None
    actor: str | None = None
    previous: Digest | None = None

    @property
    def timestamp(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, tz=UTC)


@dataclass(frozen=True, slots=True)
class MoveBy:
    """Who made a tag move and how: what its history record (and its event) says of it.

    ``action``: "push", "delete", "restore", "mirror" or "import". ``actor``: a user's name,
    ``token:<id>`` for a token's bearer, ``mirror:<prefix>``, ``anonymous`` where auth is off;
    None when unknown. ``previous_check_ms``: a mirror's check before the one that saw the
    move. ``rule``: the immutable-tag rule covering the tag (named in a refusal), or None.
    """

    action: str
    actor: str | None = None
    previous_check_ms: int | None = None
    rule: str | None = None


# Who-unknown moves, for callers that know no actor (records from before actors were kept read
# the same way).
PUSHED = MoveBy("push")
DELETED = MoveBy("delete")


@dataclass(frozen=True, slots=True)
class TagMove:
    """What a manifest PUT did to a tag: ``previous`` is None for a new tag."""

    tag: Tag
    previous: Digest | None
    moved: bool


@dataclass(frozen=True, slots=True)
class UploadSession:
    id: str
    repository: RepoName
    offset: int
    started_ms: int


@dataclass(frozen=True, slots=True)
class RepositorySummary:
    """A repository as a listing shows it: how many tags it has, when one last moved."""

    name: str
    tag_count: int
    last_update_ms: int | None


@dataclass(frozen=True, slots=True)
class TagDetail:
    """A current tag with the manifest it points to and when it last moved."""

    tag: str
    digest: Digest
    media_type: str
    size: int
    updated_ms: int
    content: bytes
