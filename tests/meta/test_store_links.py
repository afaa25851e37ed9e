"""Contract of the repository, blob-link and upload stores (``meta.store``) on every backend:
links are per repository, and never go while a manifest needs them."""

from __future__ import annotations

import asyncio

import pytest

from tagtrail.errors import ManifestBlobUnknown, Unsupported
from tagtrail.meta.sql import SqlMetadataStore
from tagtrail.meta.store import MetadataStore
from tagtrail.types import Digest, RepoName, Tag
from tests.meta.contract import CONFIG, REPO, manifest

pytestmark = pytest.mark.anyio


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
    store_url: str,
) -> None:
    """A blob DELETE racing manifest pushes that reference the blob, through two stores (two
    replicas): either the push fails for the missing blob or the delete is refused, never both
    succeed."""
    first, second = (
        await SqlMetadataStore.open(store_url),
        await SqlMetadataStore.open(store_url),
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


async def test_upload_offsets_compare_and_set(store: MetadataStore) -> None:
    session = await store.create_upload(REPO, "a" * 32)
    assert await store.advance_upload(session.id, 0, 10)
    assert not await store.advance_upload(session.id, 0, 20)
    found = await store.get_upload(REPO, session.id)
    assert found is not None and found.offset == 10
    assert await store.get_upload(RepoName("team/other"), session.id) is None
    await store.delete_upload(session.id)
    assert await store.get_upload(REPO, session.id) is None
