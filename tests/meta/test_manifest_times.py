"""The times a manifest pull answers as ``Last-Modified`` (``StoredManifest.modified_ms``), on
every backend: by tag, the timestamp of the tag's latest history record (its move to the
digest); by digest, when the digest was stored in the repository."""

from __future__ import annotations

import pytest

from tagtrail.clock import now_ms
from tagtrail.meta.mirror_state import ImportedMove
from tagtrail.meta.store import MetadataStore
from tagtrail.types import RepoName, Tag
from tests.meta.contract import manifest

pytestmark = pytest.mark.anyio

NAME = RepoName("times/app")
TAG = Tag("latest")


async def _newest_record_ms(store: MetadataStore, name: RepoName, tag: Tag) -> int:
    records = await store.history(name, tag, start_ms=None, end_ms=None, limit=100)
    return records[-1].timestamp_ms


async def _by_tag(store: MetadataStore, name: RepoName, tag: Tag) -> int:
    found = await store.resolve_tag(name, tag)
    assert found is not None
    return found.modified_ms


async def test_by_tag_the_time_of_the_move_to_the_current_digest(store: MetadataStore) -> None:
    one, two = manifest(1), manifest(2)
    await store.link_blob(NAME, one.blob_refs[0], 10)
    await store.put_manifest(NAME, one, TAG)
    first = await _newest_record_ms(store, NAME, TAG)
    assert await _by_tag(store, NAME, TAG) == first
    # The same digest again is no move: the time stays.
    await store.put_manifest(NAME, one, TAG)
    assert await _by_tag(store, NAME, TAG) == first
    await store.put_manifest(NAME, two, TAG)
    second = await _newest_record_ms(store, NAME, TAG)
    assert second > first
    assert await _by_tag(store, NAME, TAG) == second
    # Back to a digest the tag had before: the time of this move, not of the first one.
    await store.put_manifest(NAME, one, TAG)
    back = await _newest_record_ms(store, NAME, TAG)
    assert back > second
    assert await _by_tag(store, NAME, TAG) == back
    # Deleted and created again: the new creation's time.
    assert await store.delete_tag(NAME, TAG)
    await store.put_manifest(NAME, two, TAG)
    again = await _newest_record_ms(store, NAME, TAG)
    assert again > back
    assert await _by_tag(store, NAME, TAG) == again


async def test_by_digest_the_time_it_was_first_stored(store: MetadataStore) -> None:
    one = manifest(3)
    await store.link_blob(NAME, one.blob_refs[0], 10)
    before = now_ms()
    await store.put_manifest(NAME, one, None)
    after = now_ms()
    stored = await store.get_manifest(NAME, one.digest)
    assert stored is not None
    assert before <= stored.modified_ms <= after
    # Tagged later, and pushed again: by digest it is still the time it was stored.
    await store.put_manifest(NAME, one, Tag("later"))
    await store.put_manifest(NAME, one, Tag("again"))
    again = await store.get_manifest(NAME, one.digest)
    assert again is not None and again.modified_ms == stored.modified_ms
    assert await _by_tag(store, NAME, Tag("again")) >= stored.modified_ms


async def test_a_mirrored_tag_with_imported_history_has_the_upstream_time(
    store: MetadataStore,
) -> None:
    """A tag created from the upstream's own history (no move of ours recorded): the time of
    the upstream's record, which the tag row takes without ``point_tag``."""
    name = RepoName("hub/library/times")
    one, two = manifest(4), manifest(5)
    imported = [ImportedMove(1_000, one.digest), ImportedMove(2_500, two.digest)]
    move = await store.record_mirrored_move(
        name, TAG, two, previous_check_ms=None, imported=imported
    )
    assert move.moved
    assert await _by_tag(store, name, TAG) == 2_500
    # The next move seen upstream: its own time.
    three = manifest(6)
    await store.record_mirrored_move(name, TAG, three, previous_check_ms=3_000)
    assert await _by_tag(store, name, TAG) == await _newest_record_ms(store, name, TAG)
    assert await _by_tag(store, name, TAG) > 2_500
