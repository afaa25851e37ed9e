"""Each history record written counts in ``tagtrail_history_records_total``, on every backend:
a move once (a push that moves nothing, not at all), a deletion once per tag."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from tagtrail.meta.store import MetadataStore
from tagtrail.types import Tag
from tests.meta.contract import REPO, manifest

pytestmark = pytest.mark.anyio


def written(event: str) -> float:
    return REGISTRY.get_sample_value("tagtrail_history_records_total", {"event": event}) or 0.0


async def test_records_written_are_counted(store: MetadataStore) -> None:
    created, deleted = written("created"), written("deleted")
    first, second = manifest(1), manifest(2)
    await store.put_manifest(REPO, first, Tag("a"))
    await store.put_manifest(REPO, first, Tag("a"))  # no move: no record
    await store.put_manifest(REPO, second, Tag("a"))
    await store.put_manifest(REPO, second, Tag("b"))
    assert written("created") - created == 3
    assert await store.delete_manifest(REPO, second.digest, protect_history=False)
    assert written("deleted") - deleted == 2
