"""Contract of ``MetadataStore``: what every backend must do, history invariants first."""

from __future__ import annotations

import asyncio
import itertools
import json

import pytest

from tagtrail.errors import ManifestBlobUnknown, Unsupported
from tagtrail.meta.sql import SqlMetadataStore
from tagtrail.meta.store import MetadataStore
from tagtrail.types import OCI_MANIFEST, Digest, Manifest, RepoName, Tag

pytestmark = pytest.mark.anyio

REPO = RepoName("team/app")
CONFIG = Digest.of(b"{}")


def manifest(
    n: int,
    subject: Digest | None = None,
    layers: tuple[Digest, ...] = (),
    foreign: tuple[Digest, ...] = (),
) -> Manifest:
    content = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "annotations": {"n": str(n)}}
    ).encode()
    return Manifest(
        digest=Digest.of(content),
        media_type=OCI_MANIFEST,
        content=content,
        blob_refs=(CONFIG, *layers),
        manifest_refs=(),
        subject=subject,
        artifact_type="application/vnd.test",
        annotations_json=None,
        foreign_refs=foreign,
    )


async def history_of(store: MetadataStore, tag: str) -> list[tuple[str, str]]:
    records = await store.history(REPO, Tag(tag), start_ms=None, end_ms=None, limit=10_000)
    return [(str(r.digest), r.event) for r in records]


async def test_tag_moves_are_recorded_once_each(store: MetadataStore) -> None:
    first, second = manifest(1), manifest(2)
    move = await store.put_manifest(REPO, first, Tag("latest"))
    assert move is not None and move.moved and move.previous is None
    again = await store.put_manifest(REPO, first, Tag("latest"))
    assert again is not None and not again.moved
    await store.put_manifest(REPO, second, Tag("latest"))
    assert await history_of(store, "latest") == [
        (str(first.digest), "created"),
        (str(second.digest), "created"),
    ]
    resolved = await store.resolve_tag(REPO, Tag("latest"))
    assert resolved is not None and resolved.digest == second.digest


async def test_moved_away_digest_stays_readable(store: MetadataStore) -> None:
    first, second = manifest(1), manifest(2)
    await store.put_manifest(REPO, first, Tag("latest"))
    await store.put_manifest(REPO, second, Tag("latest"))
    assert await store.delete_tag(REPO, Tag("latest"))
    stored = await store.get_manifest(REPO, first.digest)
    assert stored is not None and stored.content == first.content
    assert await store.resolve_tag(REPO, Tag("latest")) is None
    assert (await history_of(store, "latest"))[-1] == (str(second.digest), "deleted")


async def test_timestamps_strictly_increase_under_concurrency(store: MetadataStore) -> None:
    manifests = [manifest(n) for n in range(60)]
    await asyncio.gather(*(store.put_manifest(REPO, m, Tag("hot")) for m in manifests))
    records = await store.history(REPO, Tag("hot"), start_ms=None, end_ms=None, limit=1000)
    stamps = [r.timestamp_ms for r in records]
    assert len(records) == 60
    assert all(a < b for a, b in itertools.pairwise(stamps))
    assert {str(r.digest) for r in records} == {str(m.digest) for m in manifests}
    current = await store.resolve_tag(REPO, Tag("hot"))
    assert current is not None and current.digest == records[-1].digest


async def test_history_window_and_order(store: MetadataStore) -> None:
    for n in range(10):
        await store.put_manifest(REPO, manifest(n), Tag("w"))
    records = await store.history(REPO, Tag("w"), start_ms=None, end_ms=None, limit=100)
    window = await store.history(
        REPO,
        Tag("w"),
        start_ms=records[3].timestamp_ms,
        end_ms=records[6].timestamp_ms,
        limit=100,
    )
    assert window == records[3:7]
    newest = await store.history(
        REPO, Tag("w"), start_ms=None, end_ms=None, limit=2, newest_first=True
    )
    assert newest == [records[9], records[8]]
    only = await store.history(
        REPO, Tag("w"), start_ms=None, end_ms=None, limit=100, digest=records[4].digest
    )
    assert only == [records[4]]


async def test_delete_manifest_untags_and_records(store: MetadataStore) -> None:
    target = manifest(7)
    await store.put_manifest(REPO, target, Tag("a"))
    await store.put_manifest(REPO, target, Tag("b"))
    assert await store.delete_manifest(REPO, target.digest, protect_history=False)
    assert await store.get_manifest(REPO, target.digest) is None
    assert await store.list_tags(REPO, None, None) == []
    for tag in ("a", "b"):
        assert await history_of(store, tag) == [
            (str(target.digest), "created"),
            (str(target.digest), "deleted"),
        ]
    assert not await store.delete_manifest(REPO, target.digest, protect_history=False)


async def test_protected_history_refuses_delete(store: MetadataStore) -> None:
    target = manifest(8)
    await store.link_blob(REPO, CONFIG, 2)
    await store.put_manifest(REPO, target, Tag("keep"))
    with pytest.raises(Unsupported):
        await store.delete_manifest(REPO, target.digest, protect_history=True)
    assert await store.get_manifest(REPO, target.digest) is not None


async def test_blob_links_are_per_repository(store: MetadataStore) -> None:
    digest = Digest.of(b"layer")
    await store.link_blob(REPO, digest, 5)
    assert await store.blob_size(REPO, digest) == 5
    assert await store.blob_size(RepoName("team/other"), digest) is None
    assert await store.missing_blobs(REPO, [digest, CONFIG]) == [CONFIG]
    assert await store.unlink_blob(REPO, digest)
    assert await store.blob_size(REPO, digest) is None
    assert not await store.unlink_blob(REPO, digest)


async def test_unlink_refuses_a_blob_a_manifest_references(store: MetadataStore) -> None:
    layer = Digest.of(b"referenced layer")
    await store.link_blob(REPO, CONFIG, 2)
    await store.link_blob(REPO, layer, 16)
    first, second = manifest(1, layers=(layer,)), manifest(2, layers=(layer,))
    await store.put_manifest(REPO, first, Tag("latest"))
    await store.put_manifest(REPO, second, None)  # untagged references count the same
    for blob in (layer, CONFIG):
        with pytest.raises(Unsupported) as refused:
            await store.unlink_blob(REPO, blob)
        named = min(str(first.digest), str(second.digest))
        assert named in refused.value.message
        assert refused.value.detail == {"digest": str(blob), "manifest": named}
        assert await store.blob_size(REPO, blob) is not None
    # Another repository's manifests do not hold this repository's links, nor the reverse.
    other = RepoName("team/other")
    await store.link_blob(other, layer, 16)
    assert await store.unlink_blob(other, layer)
    # Once no manifest references it, the blob unlinks; gc reclaims the bytes.
    assert await store.delete_manifest(REPO, first.digest, protect_history=False)
    with pytest.raises(Unsupported):
        await store.unlink_blob(REPO, layer)
    assert await store.delete_manifest(REPO, second.digest, protect_history=False)
    assert await store.unlink_blob(REPO, layer)
    assert await store.blob_size(REPO, layer) is None


async def test_unlink_of_an_unlinked_referenced_blob_is_not_found(store: MetadataStore) -> None:
    """A foreign layer a manifest names but nobody pushed: there is no link to refuse."""
    foreign = Digest.of(b"foreign layer")
    await store.link_blob(REPO, CONFIG, 2)
    await store.put_manifest(
        REPO, manifest(1, layers=(foreign,), foreign=(foreign,)), Tag("t"), verify_refs=True
    )
    assert not await store.unlink_blob(REPO, foreign)


async def test_unlink_may_skip_the_reference_check(store: MetadataStore) -> None:
    """For the upload path that takes back a link whose bytes gc deleted meanwhile."""
    await store.link_blob(REPO, CONFIG, 2)
    await store.put_manifest(REPO, manifest(1), Tag("t"))
    assert await store.unlink_blob(REPO, CONFIG, refuse_referenced=False)
    assert await store.blob_size(REPO, CONFIG) is None


async def test_unlink_and_push_never_leave_a_manifest_without_its_blob(
    database_url: str,
) -> None:
    """A blob DELETE racing manifest pushes that reference the blob, through two stores (two
    replicas): either the push fails for the missing blob or the delete is refused, never both
    succeed."""
    first, second = (
        await SqlMetadataStore.open(database_url),
        await SqlMetadataStore.open(database_url),
    )
    try:
        await first.link_blob(REPO, CONFIG, 2)
        for n in range(15):
            layer = Digest.of(b"raced %d" % n)
            await first.link_blob(REPO, layer, 8)
            pushed = manifest(n, layers=(layer,))
            push, unlink = await asyncio.gather(
                first.put_manifest(REPO, pushed, Tag(f"t{n}"), verify_refs=True),
                second.unlink_blob(REPO, layer),
                return_exceptions=True,
            )
            stored = await first.get_manifest(REPO, pushed.digest) is not None
            linked = await first.blob_size(REPO, layer) is not None
            assert stored != isinstance(push, BaseException), push
            assert linked == isinstance(unlink, BaseException), unlink
            assert isinstance(push, ManifestBlobUnknown) or isinstance(unlink, Unsupported)
            assert not stored or linked
    finally:
        await first.close()
        await second.close()


async def test_foreign_layers_need_no_link(store: MetadataStore) -> None:
    foreign, plain = Digest.of(b"foreign"), Digest.of(b"plain")
    await store.link_blob(REPO, CONFIG, 2)
    allowed = manifest(1, layers=(foreign,), foreign=(foreign,))
    await store.put_manifest(REPO, allowed, Tag("win"), verify_refs=True)
    assert await store.get_manifest(REPO, allowed.digest) is not None
    with pytest.raises(ManifestBlobUnknown) as refused:
        await store.put_manifest(
            REPO, manifest(2, layers=(foreign, plain), foreign=(foreign,)), None, verify_refs=True
        )
    assert refused.value.detail == {"digests": [str(plain)]}
    with pytest.raises(ManifestBlobUnknown):
        await store.put_manifest(REPO, manifest(3, layers=(foreign,)), None, verify_refs=True)


async def test_several_tags_move_in_one_push(store: MetadataStore) -> None:
    first, second = manifest(1), manifest(2)
    await store.link_blob(REPO, CONFIG, 2)
    await store.put_manifest(REPO, first, Tag("b"))
    tags = [Tag("c"), Tag("a"), Tag("b"), Tag("a")]
    moves = await store.put_manifest_tags(REPO, second, tags, verify_refs=True)
    assert [(m.tag, m.previous, m.moved) for m in moves] == [
        ("c", None, True),
        ("a", None, True),
        ("b", first.digest, True),
    ]
    assert await store.list_tags(REPO, None, None) == ["a", "b", "c"]
    for tag in ("a", "c"):
        assert await history_of(store, tag) == [(str(second.digest), "created")]
    assert await history_of(store, "b") == [
        (str(first.digest), "created"),
        (str(second.digest), "created"),
    ]
    again = await store.put_manifest_tags(REPO, second, [Tag("a")])
    assert [(m.tag, m.moved) for m in again] == [("a", False)]
    assert await store.put_manifest_tags(REPO, manifest(3), []) == []


async def test_several_tags_move_all_or_none(store: MetadataStore) -> None:
    """A push whose references fail sets none of its tags and records nothing."""
    missing = Digest.of(b"never pushed")
    await store.link_blob(REPO, CONFIG, 2)
    with pytest.raises(ManifestBlobUnknown):
        await store.put_manifest_tags(
            REPO, manifest(1, layers=(missing,)), [Tag("x"), Tag("y")], verify_refs=True
        )
    assert await store.list_tags(REPO, None, None) == []
    assert await history_of(store, "x") == []
    assert await history_of(store, "y") == []


async def test_upload_offsets_compare_and_set(store: MetadataStore) -> None:
    session = await store.create_upload(REPO, "a" * 32)
    assert await store.advance_upload(session.id, 0, 10)
    assert not await store.advance_upload(session.id, 0, 20)
    found = await store.get_upload(REPO, session.id)
    assert found is not None and found.offset == 10
    assert await store.get_upload(RepoName("team/other"), session.id) is None
    await store.delete_upload(session.id)
    assert await store.get_upload(REPO, session.id) is None


async def test_tags_and_repositories_page_in_order(store: MetadataStore) -> None:
    for tag in ("c", "a", "b"):
        await store.put_manifest(REPO, manifest(ord(tag)), Tag(tag))
    assert await store.list_tags(REPO, 2, None) == ["a", "b"]
    assert await store.list_tags(REPO, 2, "b") == ["c"]
    await store.link_blob(RepoName("alpha"), CONFIG, 2)
    assert await store.list_repositories(None, None) == ["alpha", "team/app"]
    assert await store.list_repositories(1, "alpha") == ["team/app"]


async def test_referrers_by_subject_and_type(store: MetadataStore) -> None:
    subject = Digest.of(b"subject")
    referrer = manifest(99, subject=subject)
    await store.put_manifest(REPO, referrer, None)
    found = await store.referrers(REPO, subject, None)
    assert [r.digest for r in found] == [referrer.digest]
    assert await store.referrers(REPO, subject, "application/other") == []
    assert await store.referrers(REPO, Digest.of(b"nothing"), None) == []


async def test_two_replicas_record_one_ordered_history(database_url: str) -> None:
    """Two stores on one database (two replicas): moves through both land in one history."""
    first, second = (
        await SqlMetadataStore.open(database_url),
        await SqlMetadataStore.open(database_url),
    )
    try:
        manifests = [manifest(1000 + n) for n in range(40)]
        await asyncio.gather(
            *(
                (first if n % 2 else second).put_manifest(REPO, m, Tag("shared"))
                for n, m in enumerate(manifests)
            )
        )
        records = await first.history(REPO, Tag("shared"), start_ms=None, end_ms=None, limit=100)
        stamps = [r.timestamp_ms for r in records]
        assert len(records) == 40
        assert all(a < b for a, b in itertools.pairwise(stamps))
        assert {str(r.digest) for r in records} == {str(m.digest) for m in manifests}
        current = await second.resolve_tag(REPO, Tag("shared"))
        assert current is not None
        assert current.digest == records[-1].digest
    finally:
        await first.close()
        await second.close()


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
