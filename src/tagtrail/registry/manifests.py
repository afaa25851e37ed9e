"""Manifests and tags: validated PUTs that record tag moves, reads, deletes, lists, referrers."""

from __future__ import annotations

from dataclasses import dataclass

from tagtrail.errors import (
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameUnknown,
)
from tagtrail.meta.store import MetadataStore
from tagtrail.registry.parsing import parse_manifest
from tagtrail.types import (
    Digest,
    Manifest,
    Referrer,
    RepoName,
    StoredManifest,
    Tag,
    TagMove,
    is_digest_reference,
    parse_tag,
)


@dataclass(frozen=True, slots=True)
class Reference:
    """A manifest reference from a URL: a tag or a digest, never both."""

    tag: Tag | None
    digest: Digest | None

    @classmethod
    def parse(cls, raw: str) -> Reference:
        if is_digest_reference(raw):
            return cls(None, Digest.parse(raw))
        return cls(parse_tag(raw), None)


@dataclass(frozen=True, slots=True)
class PutResult:
    manifest: Manifest
    move: TagMove | None


class Manifests:
    def __init__(self, meta: MetadataStore, protect_history: bool) -> None:
        self._meta = meta
        self._protect_history = protect_history

    async def put(
        self, name: RepoName, reference: Reference, content: bytes, content_type: str | None
    ) -> PutResult:
        algorithm = reference.digest.algorithm if reference.digest else "sha256"
        manifest = parse_manifest(content, content_type, algorithm)
        if reference.digest is not None and reference.digest != manifest.digest:
            raise DigestInvalid(
                "manifest digest does not match the reference",
                detail={"reference": str(reference.digest), "actual": str(manifest.digest)},
            )
        missing = await self._meta.missing_blobs(name, manifest.blob_refs)
        if missing:
            raise ManifestBlobUnknown(detail={"digests": [str(d) for d in missing]})
        missing = await self._meta.missing_manifests(name, manifest.manifest_refs)
        if missing:
            raise ManifestInvalid(
                "manifest references manifests unknown to this repository",
                detail={"digests": [str(d) for d in missing]},
            )
        move = await self._meta.put_manifest(name, manifest, reference.tag, verify_refs=True)
        return PutResult(manifest, move)

    async def get(self, name: RepoName, reference: Reference) -> StoredManifest:
        if reference.digest is not None:
            found = await self._meta.get_manifest(name, reference.digest)
        else:
            assert reference.tag is not None
            found = await self._meta.resolve_tag(name, reference.tag)
        if found is None:
            raise ManifestUnknown(detail={"reference": str(reference.digest or reference.tag)})
        return found

    async def delete(self, name: RepoName, reference: Reference) -> None:
        if reference.tag is not None:
            deleted = await self._meta.delete_tag(name, reference.tag)
        else:
            assert reference.digest is not None
            deleted = await self._meta.delete_manifest(
                name, reference.digest, self._protect_history
            )
        if not deleted:
            raise ManifestUnknown(detail={"reference": str(reference.digest or reference.tag)})

    async def tags(self, name: RepoName, limit: int | None, after: str | None) -> list[str]:
        if not await self._meta.repository_exists(name):
            raise NameUnknown(detail={"name": name})
        return await self._meta.list_tags(name, limit, after)

    async def referrers(
        self, name: RepoName, subject: Digest, artifact_type: str | None
    ) -> list[Referrer]:
        return await self._meta.referrers(name, subject, artifact_type)

    async def repositories(self, limit: int | None, after: str | None) -> list[str]:
        return await self._meta.list_repositories(limit, after)
