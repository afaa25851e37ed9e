"""The one "size" every page shows for a manifest.

An image's size is its config and layers as pushed (compressed): what pulling it downloads, and
what Docker Hub shows. An index's size is every blob of the manifests it lists together, a blob
that several platforms share counted once: what pulling all its platforms downloads, or what a
mirror of it stores. The manifest document's own bytes are not part of it (the digest page
shows them apart). None when a manifest, or a child of an index, is not stored here.
"""

from __future__ import annotations

from tagtrail.errors import InvalidInput
from tagtrail.registry.browsing import Browsing
from tagtrail.types import Digest, RepoName
from tagtrail.ui.present import ManifestView, describe

# Indexes of indexes exist (rarely nested deeper); a chain longer than this is not a real image.
MAX_DEPTH = 4


class Sizes:
    """Sizes of the manifests of one repository, each manifest read once per page."""

    def __init__(self, browsing: Browsing, name: RepoName) -> None:
        self._browsing = browsing
        self._name = name
        self._views: dict[str, ManifestView | None] = {}

    def know(self, digest: str, view: ManifestView) -> None:
        """A manifest the page has read already."""
        self._views[digest] = view

    async def of(self, digest: str) -> int | None:
        blobs = await self._blobs(digest, MAX_DEPTH)
        return None if blobs is None else sum(blobs.values())

    async def _view(self, digest: str) -> ManifestView | None:
        if digest not in self._views:
            try:
                parsed = Digest.parse(digest)
            except InvalidInput:
                return None
            stored = await self._browsing.manifest(self._name, parsed)
            self._views[digest] = (
                None if stored is None else describe(stored.media_type, stored.content)
            )
        return self._views[digest]

    async def _blobs(self, digest: str, depth: int) -> dict[str, int] | None:
        """Every blob ``digest`` reaches, by digest, with its size."""
        view = await self._view(digest)
        if view is None or view.kind == "other" or depth == 0:
            return None
        if view.kind != "index":
            parts = [*([view.config] if view.config else []), *view.layers]
            return {part.digest: part.size for part in parts}
        found: dict[str, int] = {}
        for child in view.children:
            blobs = await self._blobs(child.digest, depth - 1)
            if blobs is None:
                return None
            found.update(blobs)
        return found
