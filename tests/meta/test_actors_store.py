"""Who and how on every backend: records keep their actor and action, read back with the
previous digest where asked; records from before read as unknown actor, push or delete; a
restore checks the tag's own history and moves it in one transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tagtrail.errors import ManifestUnknown, NameUnknown, TagUnknown
from tagtrail.meta.mirror_state import ImportedMove
from tagtrail.meta.schema import repositories, tag_history
from tagtrail.meta.sql_base import SqlStoreBase
from tagtrail.meta.store import MetadataStore
from tagtrail.types import MoveBy, RepoName, Tag
from tests.meta.contract import manifest

pytestmark = pytest.mark.anyio

NAME = RepoName("acme/app")
TAG = Tag("prod")


async def who(store: MetadataStore) -> list[tuple[str, str, str | None, str | None, str | None]]:
    """(event, digest, action, actor, previous) of each record, newest first."""
    found = await store.history(
        NAME, TAG, start_ms=None, end_ms=None, limit=100, newest_first=True, with_previous=True
    )
    return [
        (r.event, str(r.digest), r.action, r.actor, None if r.previous is None else str(r.previous))
        for r in found
    ]


async def test_records_keep_actor_action_and_previous(store: MetadataStore) -> None:
    one, two = manifest(1), manifest(2)
    await store.put_manifest(NAME, one, TAG, by=MoveBy("push", "alice"))
    await store.put_manifest(NAME, two, TAG, by=MoveBy("push", "token:ttp_x"))
    assert await store.delete_tag(NAME, TAG, by=MoveBy("delete", "bob"))
    await store.put_manifest(NAME, one, TAG, by=MoveBy("push", "mirror:hub"))
    await store.delete_manifest(NAME, one.digest, False, by=lambda tag: MoveBy("delete", "dave"))
    d1, d2 = str(one.digest), str(two.digest)
    assert await who(store) == [
        ("deleted", d1, "delete", "dave", d1),
        ("created", d1, "push", "mirror:hub", None),  # after a deletion: nothing before
        ("deleted", d2, "delete", "bob", d2),
        ("created", d2, "push", "token:ttp_x", d1),
        ("created", d1, "push", "alice", None),
    ]
    # The previous digest is the tag's record before, also when a filter hides that record.
    only_two = await store.history(
        NAME, TAG, start_ms=None, end_ms=None, limit=10, digest=two.digest, with_previous=True
    )
    assert [str(r.previous) for r in only_two] == [d1, d2]
    # Without asking, none is looked up.
    plain = await store.history(NAME, TAG, start_ms=None, end_ms=None, limit=10)
    assert {r.previous for r in plain} == {None}


async def test_records_from_before_read_as_unknown_push_or_delete(store: MetadataStore) -> None:
    one = manifest(1)
    await store.put_manifest(NAME, one, None)
    assert isinstance(store, SqlStoreBase)
    async with store.database.engine.begin() as conn:
        repo_id = await conn.scalar(select(repositories.c.id).where(repositories.c.name == NAME))
        # As revision 0005 wrote them: no action for pushes and deletes, no actor column yet.
        await conn.execute(
            tag_history.insert(),
            [
                {
                    "repository_id": repo_id,
                    "tag": TAG,
                    "ts_ms": ts,
                    "digest": str(one.digest),
                    "event": event,
                    "media_type": one.media_type,
                    "size": one.size,
                }
                for ts, event in ((1000, "created"), (2000, "deleted"))
            ],
        )
    d1 = str(one.digest)
    assert await who(store) == [
        ("deleted", d1, "delete", None, d1),
        ("created", d1, "push", None, None),
    ]


async def test_restore_moves_the_tag_to_a_digest_of_its_history(store: MetadataStore) -> None:
    one, two, stranger = manifest(1), manifest(2), manifest(3)
    await store.put_manifest(NAME, one, TAG, by=MoveBy("push", "alice"))
    await store.put_manifest(NAME, two, TAG, by=MoveBy("push", "alice"))
    await store.put_manifest(NAME, stranger, Tag("other"))
    move = await store.restore_tag(NAME, TAG, one.digest, MoveBy("restore", "bob"))
    assert (move.previous, move.moved) == (two.digest, True)
    resolved = await store.resolve_tag(NAME, TAG)
    assert resolved is not None and resolved.digest == one.digest
    assert (await who(store))[0] == ("created", str(one.digest), "restore", "bob", str(two.digest))
    again = await store.restore_tag(NAME, TAG, one.digest, MoveBy("restore", "bob"))
    assert again.moved is False
    assert len(await who(store)) == 3

    with pytest.raises(ManifestUnknown, match="never pointed"):
        await store.restore_tag(NAME, TAG, stranger.digest, MoveBy("restore", "bob"))
    with pytest.raises(TagUnknown):
        await store.restore_tag(NAME, Tag("none"), one.digest, MoveBy("restore", "bob"))
    with pytest.raises(NameUnknown):
        await store.restore_tag(RepoName("acme/none"), TAG, one.digest, MoveBy("restore"))
    assert len(await who(store)) == 3


async def test_restore_refuses_a_manifest_no_longer_stored(store: MetadataStore) -> None:
    one, two = manifest(1), manifest(2)
    await store.put_manifest(NAME, one, TAG)
    await store.put_manifest(NAME, two, TAG)
    # Without history protection, deleting the manifest forgets it (its records stay).
    assert await store.delete_manifest(NAME, one.digest, False)
    with pytest.raises(ManifestUnknown, match="no longer stored"):
        await store.restore_tag(NAME, TAG, one.digest, MoveBy("restore"))
    resolved = await store.resolve_tag(NAME, TAG)
    assert resolved is not None and resolved.digest == two.digest


async def test_mirror_records_name_the_mirror(store: MetadataStore) -> None:
    one, two = manifest(1), manifest(2)
    imported = [ImportedMove(1_000, one.digest)]
    await store.record_mirrored_move(
        NAME, TAG, two, previous_check_ms=None, imported=imported, actor="mirror:hub"
    )
    assert await store.record_mirrored_deletion(NAME, TAG, previous_check_ms=5, actor="mirror:hub")
    d1, d2 = str(one.digest), str(two.digest)
    assert await who(store) == [
        ("deleted", d2, "mirror", "mirror:hub", d2),
        ("created", d2, "mirror", "mirror:hub", d1),
        ("created", d1, "import", "mirror:hub", None),
    ]
