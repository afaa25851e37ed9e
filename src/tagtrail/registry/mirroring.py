"""The mirrors' part of the registry: which names are mirrored, their upstream clients, the
tag sync both pull-through and watches use, and the pull-through itself."""

from __future__ import annotations

from dataclasses import dataclass

from tagtrail.blobs.driver import BlobDriver
from tagtrail.meta.mirror_state import MirrorStateStore
from tagtrail.meta.store import MetadataStore
from tagtrail.registry.blobs import Blobs
from tagtrail.registry.mirror_fetches import BlobFetches
from tagtrail.registry.mirror_names import MirrorNames, Organisations
from tagtrail.registry.mirror_pull import MirrorPull
from tagtrail.registry.mirror_sync import MirrorSync
from tagtrail.registry.mirror_upstreams import MirrorLister, MirrorUpstreams
from tagtrail.registry.tag_rules import TagRules


@dataclass(frozen=True, slots=True)
class Mirroring:
    upstreams: MirrorUpstreams
    sync: MirrorSync
    state: MirrorStateStore
    names: MirrorNames  # a pull's name as a client configured for a mirror writes it
    pull: MirrorPull
    fetches: BlobFetches  # the blob fetches in flight, closed with the registry

    @classmethod
    def wire(
        cls,
        mirrors: MirrorLister,
        meta: MetadataStore,
        driver: BlobDriver,
        blobs: Blobs,
        organisations: Organisations | None,
        rules: TagRules | None = None,
    ) -> Mirroring:
        """Every part on one metadata store and one blob driver (``organisations``: None
        leaves the Docker daemon's name form off, see ``mirror_names``; ``rules``: the
        registry's, so that mirror moves obey its immutable-tag rules)."""
        upstreams = MirrorUpstreams(mirrors)
        sync = MirrorSync(meta, meta, meta, driver, rules=rules or TagRules(meta))
        fetches = BlobFetches(meta, meta, driver)
        pull = MirrorPull(upstreams, sync, meta, meta, meta, driver, blobs, fetches)
        names = MirrorNames(upstreams, meta, organisations)
        return cls(upstreams, sync, meta, names, pull, fetches)

    async def aclose(self) -> None:
        await self.fetches.aclose()
        await self.upstreams.aclose()
