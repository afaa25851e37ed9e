"""Manifests and tags: validated PUTs that record tag moves, reads, deletes, lists, referrers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from tagtrail.errors import (
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameUnknown,
    TagInvalid,
)
from tagtrail.meta.store import BlobLinkStore, ManifestStore, RepositoryStore
from tagtrail.registry.mirror_guard import MirrorGuard, refuse_writes
from tagtrail.registry.parsing import parse_manifest
from tagtrail.registry.tag_rules import TagRules
from tagtrail.types import (
    Digest,
    Manifest,
    MoveBy,
    Referrer,
    RepoName,
    StoredManifest,
    Tag,
    TagMove,
    is_digest_reference,
    parse_tag,
)

# Tags one push by digest may set (``?tag=``): the spec asks for at least 10. Each is a locked
# move and a history record in the push's one transaction, so the number is bounded.
MAX_TAGS_PER_PUSH = 100


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

    @classmethod
    def lookup(cls, raw: str) -> Reference | None:
        """A reference to read by: None when ``raw`` is neither a tag nor a digest, which
        names nothing stored (a read answers 404, as for any missing manifest)."""
        try:
            return cls.parse(raw)
        except (TagInvalid, DigestInvalid):
            return None


@dataclass(frozen=True, slots=True)
class PutResult:
    manifest: Manifest
    moves: tuple[TagMove, ...]  # one per tag the push set


class Manifests:
    def __init__(
        self,
        manifests: ManifestStore,
        links: BlobLinkStore,
        repositories: RepositoryStore,
        *,
        protect_history: bool,
        allow_foreign: bool = True,
        guard: MirrorGuard | None = None,
        rules: TagRules | None = None,
    ) -> None:
        self._guard = guard
        self._rules = rules
        self._manifests = manifests
        self._links = links
        self._repositories = repositories
        self._protect_history = protect_history
        self._allow_foreign = allow_foreign

    async def put(
        self,
        name: RepoName,
        reference: Reference,
        content: bytes,
        content_type: str | None,
        tags: Sequence[Tag] = (),
        *,
        actor: str | None = None,
    ) -> PutResult:
        """Store a manifest, tagged by ``reference`` or, pushed by digest, by ``tags``;
        ``actor`` pushed it (``types.MoveBy``)."""
        await refuse_writes(self._guard, name)
        if tags and reference.digest is None:
            raise TagInvalid(
                "tag parameters go with a push by digest, not by tag",
                detail={"reference": reference.tag},
            )
        if len(tags) > MAX_TAGS_PER_PUSH:
            raise TagInvalid(
                f"at most {MAX_TAGS_PER_PUSH} tag parameters a push",
                detail={"limit": MAX_TAGS_PER_PUSH},
            )
        algorithm = reference.digest.algorithm if reference.digest else "sha256"
        manifest = parse_manifest(content, content_type, algorithm)
        if manifest.foreign_refs and not self._allow_foreign:
            manifest = replace(manifest, foreign_refs=())  # every layer must be pushed
        if reference.digest is not None and reference.digest != manifest.digest:
            raise DigestInvalid(
                "manifest digest does not match the reference",
                detail={"reference": str(reference.digest), "actual": str(manifest.digest)},
            )
        foreign = set(manifest.foreign_refs)
        required = [d for d in manifest.blob_refs if d not in foreign]
        missing = await self._links.missing_blobs(name, required)
        if missing:
            raise ManifestBlobUnknown(detail={"digests": [str(d) for d in missing]})
        missing = await self._manifests.missing_manifests(name, manifest.manifest_refs)
        if missing:
            raise ManifestInvalid(
                "manifest references manifests unknown to this repository",
                detail={"digests": [str(d) for d in missing]},
            )
        wanted = [reference.tag] if reference.tag is not None else list(tags)
        rule_for = await self._rule_for(name)
        moves = await self._manifests.put_manifest_tags(
            name,
            manifest,
            wanted,
            verify_refs=True,
            # Per tag: each may fall under its own rule (refused in the storing transaction).
            by=lambda tag: MoveBy("push", actor, rule=rule_for(tag)),
        )
        return PutResult(manifest, tuple(moves))

    async def get(self, name: RepoName, reference: Reference) -> StoredManifest:
        if reference.digest is not None:
            found = await self._manifests.get_manifest(name, reference.digest)
        else:
            assert reference.tag is not None
            found = await self._manifests.resolve_tag(name, reference.tag)
        if found is None:
            raise ManifestUnknown(detail={"reference": str(reference.digest or reference.tag)})
        return found

    async def delete(
        self, name: RepoName, reference: Reference, *, actor: str | None = None
    ) -> None:
        await refuse_writes(self._guard, name)
        rule_for = await self._rule_for(name)
        if reference.tag is not None:
            by = MoveBy("delete", actor, rule=rule_for(reference.tag))
            deleted = await self._manifests.delete_tag(name, reference.tag, by=by)
        else:
            assert reference.digest is not None
            deleted = await self._manifests.delete_manifest(
                name,
                reference.digest,
                self._protect_history,
                by=lambda tag: MoveBy("delete", actor, rule=rule_for(tag)),
            )
        if not deleted:
            raise ManifestUnknown(detail={"reference": str(reference.digest or reference.tag)})

    async def _rule_for(self, name: RepoName) -> Callable[[str], str | None]:
        """The immutable-tag rule covering each tag of ``name`` (``MoveBy.rule``)."""
        if self._rules is None:
            return lambda _: None
        return await self._rules.covering(name)

    async def tags(self, name: RepoName, limit: int | None, after: str | None) -> list[str]:
        if not await self._repositories.repository_exists(name):
            raise NameUnknown(detail={"name": name})
        return await self._manifests.list_tags(name, limit, after)

    async def referrers(
        self, name: RepoName, subject: Digest, artifact_type: str | None
    ) -> list[Referrer]:
        return await self._manifests.referrers(name, subject, artifact_type)

    async def repositories(self, limit: int | None, after: str | None) -> list[str]:
        return await self._repositories.list_repositories(limit, after)
