"""Contract of the browsing store (``meta.store``) on every backend: the web UI's overviews."""

from __future__ import annotations

import pytest

from tagtrail.meta.store import MetadataStore
from tagtrail.types import OCI_MANIFEST, RepoName, Tag
from tests.meta.contract import REPO, manifest

pytestmark = pytest.mark.anyio


async def test_repository_summaries_count_current_tags(store: MetadataStore) -> None:
    other = RepoName("team/other")
    first, second = manifest(1), manifest(2)
    await store.put_manifest(REPO, first, Tag("a"))
    await store.put_manifest(REPO, second, Tag("b"))
    await store.put_manifest(REPO, first, Tag("c"))
    assert await store.delete_tag(REPO, Tag("c"))
    await store.put_manifest(other, first, None)  # a repository without tags
    found = await store.repository_summaries([str(REPO), str(other), "team/missing"])
    assert [(s.name, s.tag_count) for s in found] == [(str(REPO), 2), (str(other), 0)]
    assert found[1].last_update_ms is None
    stamps = [
        r.timestamp_ms
        for tag in ("a", "b")
        for r in await store.history(REPO, Tag(tag), start_ms=None, end_ms=None, limit=10)
    ]
    assert found[0].last_update_ms == max(stamps)
    assert await store.repository_summaries([]) == []


async def test_tag_details_page_by_name(store: MetadataStore) -> None:
    first, second = manifest(1), manifest(2)
    for tag, target in (("c", first), ("a", second), ("b", first)):
        await store.put_manifest(REPO, target, Tag(tag))
    details = await store.tag_details(REPO, None, None)
    assert [(d.tag, d.digest) for d in details] == [
        ("a", second.digest),
        ("b", first.digest),
        ("c", first.digest),
    ]
    assert details[0].content == second.content
    assert details[0].media_type == OCI_MANIFEST and details[0].size == second.size
    moved = await store.history(REPO, Tag("a"), start_ms=None, end_ms=None, limit=10)
    assert details[0].updated_ms == moved[-1].timestamp_ms
    assert [d.tag for d in await store.tag_details(REPO, 1, "a")] == ["b"]
    assert await store.tag_details(RepoName("team/missing"), None, None) == []


async def test_tags_naming_includes_past_and_deleted_tags(store: MetadataStore) -> None:
    first, second = manifest(1), manifest(2)
    await store.put_manifest(REPO, first, Tag("latest"))
    await store.put_manifest(REPO, second, Tag("latest"))
    await store.put_manifest(REPO, first, Tag("old"))
    assert await store.delete_tag(REPO, Tag("old"))
    await store.put_manifest(REPO, second, Tag("stable"))
    assert await store.tags_naming(REPO, first.digest) == ["latest", "old"]
    assert await store.tags_naming(REPO, second.digest) == ["latest", "stable"]
    assert await store.tags_naming(REPO, manifest(3).digest) == []
    assert await store.tags_naming(RepoName("team/missing"), first.digest) == []
