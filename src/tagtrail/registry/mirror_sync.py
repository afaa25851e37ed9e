"""Mirroring one tag: ask the upstream where it points, and when it moved, fetch and record.

The one place both the watches and the pull-through come to. A check asks the upstream with
HEAD (Docker Hub's rate limit counts GETs, not HEADs); only a digest that differs from the
local tag's costs GETs: the manifest, its index children (or those of the platforms asked
for), and, for watches, their blobs. Everything fetched is verified against its digest by
``tagtrail.upstream`` before it is stored. The move is recorded with the time of the check
before it (``meta.mirror_state``), and a tag checked for the first time brings the upstream's
own history along when the upstream serves one.

An upstream that cannot answer (down, 5xx, 429 beyond the wait, credentials refused) records
nothing: the check says so (``TagCheckResult.unavailable``) and what is held keeps serving.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tagtrail import metrics
from tagtrail.blobs.driver import BlobDriver
from tagtrail.clock import now_ms
from tagtrail.errors import InvalidInput, TagImmutable
from tagtrail.meta.mirror_state import ImportedMove, MirrorStateStore, TagCheck
from tagtrail.meta.store import BlobLinkStore, ManifestStore
from tagtrail.registry.mirror_upstreams import Mirrored
from tagtrail.registry.parsing import parse_manifest
from tagtrail.registry.tag_rules import TagRules
from tagtrail.times import parse_timestamp
from tagtrail.types import INDEX_MANIFEST_TYPES, Digest, Manifest, Tag
from tagtrail.upstream.client import Upstream
from tagtrail.upstream.errors import UpstreamError, UpstreamInvalid, UpstreamNotFound

log = logging.getLogger("tagtrail.mirror")


@dataclass(frozen=True, slots=True)
class TagCheckResult:
    digest: Digest | None  # where the local tag points after the check (None: nowhere)
    moved: bool  # a move (or the upstream's deletion) was recorded
    asked: bool  # the upstream was asked (False: the last check is recent enough)
    unavailable: str | None = None  # why the upstream could not be asked, when it could not
    checked_ms: int | None = None  # when the upstream last answered for this tag
    # What went wrong, when ``unavailable``: a watch retries an UpstreamUnavailable, stops at
    # an UpstreamUnauthorized, and goes on to the next tag after anything else.
    failure: Exception | None = None


def mirror_actor(mirrored: Mirrored) -> str:
    """Who a mirror's records say moved the tag (``types.MoveBy``): the mirror, by prefix."""
    return f"mirror:{mirrored.mirror.prefix}"


class MirrorSync:
    def __init__(
        self,
        state: MirrorStateStore,
        manifests: ManifestStore,
        links: BlobLinkStore,
        driver: BlobDriver,
        *,
        clock_ms: Callable[[], int] = now_ms,
        rules: TagRules | None = None,
    ) -> None:
        self._rules = rules
        self._state = state
        self._manifests = manifests
        self._links = links
        self._driver = driver
        self._clock_ms = clock_ms

    async def check_tag(
        self,
        mirrored: Mirrored,
        upstream: Upstream,
        tag: Tag,
        *,
        due_only: bool,
        platforms: Sequence[str] = (),
        fetch_blobs: bool = False,
    ) -> TagCheckResult:
        """Ask the upstream where ``tag`` points and follow it here. ``due_only``: not when
        the last check is younger than the mirror's interval (a pull); else always (a watch)."""
        name = mirrored.local
        last = await self._state.tag_check(name, tag)
        now = self._clock_ms()
        current = await self._manifests.resolve_tag(name, tag)
        here = None if current is None else current.digest
        interval_ms = mirrored.mirror.check_interval_s * 1000
        if due_only and last is not None and now - last.checked_ms < interval_ms:
            return TagCheckResult(here, moved=False, asked=False, checked_ms=last.checked_ms)
        previous = None if last is None else last.checked_ms
        # An immutable-tag rule covers mirror moves too: the upstream may move such a tag,
        # the copy here stays where it was first seen.
        rule = None if self._rules is None else (await self._rules.covering(name))(tag)
        metrics.MIRROR_CHECKS.labels(mirrored.mirror.prefix).inc()
        try:
            head = await upstream.head_manifest(mirrored.upstream, tag)
            if head is None:
                moved = here is not None and await self._state.record_mirrored_deletion(
                    name, tag, previous_check_ms=previous, actor=mirror_actor(mirrored), rule=rule
                )
                await self._state.save_tag_check(name, tag, TagCheck(None, now, imported=True))
                return TagCheckResult(None, moved=moved, asked=True, checked_ms=now)
            digest = Digest.parse(head.digest)
            if digest == here:
                imported = last is not None and last.imported
                await self._state.save_tag_check(name, tag, TagCheck(digest, now, imported))
                return TagCheckResult(digest, moved=False, asked=True, checked_ms=now)
            manifest = await self.fetch_manifest(
                mirrored, upstream, digest, platforms=platforms, fetch_blobs=fetch_blobs
            )
            history: list[ImportedMove] = []
            if last is None or not last.imported:
                history = await self._upstream_history(mirrored, upstream, tag, manifest)
            await self._state.record_mirrored_move(
                name,
                tag,
                manifest,
                previous_check_ms=previous,
                imported=history,
                actor=mirror_actor(mirrored),
                rule=rule,
            )
        except TagImmutable as exc:
            # Nothing recorded; the check is saved, so the upstream is asked again only after
            # the interval, and what is held keeps serving.
            log.warning("mirror %s: %s:%s not moved: %s", mirrored.mirror.prefix, name, tag, exc)
            seen = None if head is None else Digest.parse(head.digest)
            await self._state.save_tag_check(name, tag, TagCheck(seen, now, imported=True))
            return TagCheckResult(here, moved=False, asked=True, checked_ms=now)
        except (UpstreamError, InvalidInput) as exc:  # InvalidInput: a manifest we refuse
            log.warning("mirror %s: %s:%s not checked: %s", mirrored.mirror.prefix, name, tag, exc)
            metrics.MIRROR_FAILURES.labels("check").inc()
            return TagCheckResult(
                here,
                moved=False,
                asked=True,
                unavailable=str(exc),
                checked_ms=previous,
                failure=exc,
            )
        await self._state.save_tag_check(name, tag, TagCheck(digest, now, imported=True))
        return TagCheckResult(digest, moved=True, asked=True, checked_ms=now)

    async def fetch_manifest(
        self,
        mirrored: Mirrored,
        upstream: Upstream,
        digest: Digest,
        *,
        platforms: Sequence[str] = (),
        fetch_blobs: bool = False,
    ) -> Manifest:
        """The manifest ``digest`` from the upstream, verified; an index's children (those of
        ``platforms``, or all) stored first, and with ``fetch_blobs`` every blob too. The
        manifest itself is returned, not stored (the caller records it with its tag)."""
        manifest = await self._get_manifest(mirrored, upstream, digest)
        if manifest.media_type in INDEX_MANIFEST_TYPES:
            for child in _children(manifest, platforms):
                stored = await self._manifests.get_manifest(mirrored.local, child)
                if stored is not None and not fetch_blobs:
                    continue
                fetched = await self._get_manifest(mirrored, upstream, child)
                if fetch_blobs:
                    await self.fetch_blobs(mirrored, upstream, fetched)
                await self._state.store_mirrored_manifest(mirrored.local, fetched)
        elif fetch_blobs:
            await self.fetch_blobs(mirrored, upstream, manifest)
        return manifest

    async def fetch_blobs(self, mirrored: Mirrored, upstream: Upstream, manifest: Manifest) -> None:
        foreign = set(manifest.foreign_refs)
        for blob in dict.fromkeys(manifest.blob_refs):
            if blob not in foreign:
                await self.store_blob(mirrored, upstream, blob)

    async def store_blob(self, mirrored: Mirrored, upstream: Upstream, digest: Digest) -> int:
        """Make blob ``digest`` pullable from the mirrored repository (fetched unless the
        storage has its bytes already); its size."""
        size = await self._links.blob_size(mirrored.local, digest)
        if size is not None:
            return size
        size = await self._driver.size(digest)
        if size is None:
            upload = f"mirror-{uuid.uuid4().hex}"
            await self._driver.start_upload(upload)
            try:
                async with upstream.open_blob(mirrored.upstream, str(digest)) as stream:
                    size = await self._driver.append_upload(upload, 0, stream)
                await self._driver.commit_upload(upload, digest)
            except BaseException:
                metrics.MIRROR_FAILURES.labels("fetch").inc()
                await self._driver.cancel_upload(upload)
                raise
            metrics.MIRROR_FETCHES.inc()
        await self._links.link_blob(mirrored.local, digest, size)
        return size

    async def _get_manifest(
        self, mirrored: Mirrored, upstream: Upstream, digest: Digest
    ) -> Manifest:
        body = await upstream.get_manifest(mirrored.upstream, str(digest))
        manifest = parse_manifest(body.data, body.media_type, digest.algorithm)
        if manifest.digest != digest:  # the client verified the bytes; this is the parse
            raise UpstreamInvalid(f"manifest {digest} from {upstream.host} is not {digest}")
        return manifest

    async def _upstream_history(
        self, mirrored: Mirrored, upstream: Upstream, tag: Tag, current: Manifest
    ) -> list[ImportedMove]:
        """The upstream's own history of ``tag`` (empty when it keeps none)."""
        try:
            moves = await upstream.tag_history(mirrored.upstream, tag)
        except UpstreamNotFound:
            return []
        history = []
        for move in moves or ():
            try:
                digest = Digest.parse(move.digest)
                timestamp_ms = parse_timestamp(move.timestamp)
            except InvalidInput as exc:  # TimestampInvalid, DigestInvalid
                raise UpstreamInvalid(f"{upstream.host} sent a malformed history record") from exc
            known = digest == current.digest
            history.append(
                ImportedMove(
                    timestamp_ms,
                    digest,
                    current.media_type if known else move.media_type,
                    current.size if known else move.size,
                    move.event,
                )
            )
        return history


def _children(index: Manifest, platforms: Sequence[str]) -> list[Digest]:
    """The index's children of ``platforms`` (``os/arch[/variant]``), or all of them."""
    if not platforms:
        return list(index.manifest_refs)
    wanted = set(platforms)
    kept = []
    for child in json.loads(index.content).get("manifests", []):
        platform = child.get("platform") or {}
        names = {f"{platform.get('os')}/{platform.get('architecture')}"}
        if platform.get("variant"):
            names.add(f"{platform.get('os')}/{platform.get('architecture')}/{platform['variant']}")
        if names & wanted:
            kept.append(Digest.parse(child["digest"]))
    return kept
