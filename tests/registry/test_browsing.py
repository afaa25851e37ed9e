"""The web UI's reads (``Browsing``) on a real store: a tag's history around a moment, and what
a digest is named by and referred to by."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tagtrail.meta.sql import SqlMetadataStore
from tagtrail.registry.browsing import Browsing
from tagtrail.types import OCI_MANIFEST, Digest, Manifest, Tag, parse_name

pytestmark = pytest.mark.anyio

REPO = parse_name("browse/app")
LATEST = Tag("latest")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def manifest(n: int, subject: Digest | None = None) -> Manifest:
    content = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "n": n}).encode()
    return Manifest(Digest.of(content), OCI_MANIFEST, content, (), (), subject, None, None)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlMetadataStore]:
    opened = await SqlMetadataStore.open(f"sqlite:///{tmp_path / 'meta.db'}")
    yield opened
    await opened.close()


@pytest.fixture
def browsing(store: SqlMetadataStore) -> Browsing:
    return Browsing(store, store, store, store)


async def test_records_around_a_moment(store: SqlMetadataStore, browsing: Browsing) -> None:
    one, two = manifest(1), manifest(2)
    for pointed in (one, two, one):  # a move, then a return to the first digest
        await store.put_manifest(REPO, pointed, LATEST)
    records = await store.history(REPO, LATEST, start_ms=None, end_ms=None, limit=10)
    first, second, back = records
    assert await browsing.has_history(REPO, LATEST)
    assert not await browsing.has_history(REPO, Tag("other"))
    assert await browsing.record_at(REPO, LATEST, first.timestamp_ms - 1) is None
    assert await browsing.record_at(REPO, LATEST, second.timestamp_ms) == second
    assert await browsing.record_at(REPO, LATEST, back.timestamp_ms - 1) == second
    assert await browsing.record_from(REPO, LATEST, first.timestamp_ms + 1) == second
    assert await browsing.record_from(REPO, LATEST, back.timestamp_ms + 1) is None
    assert await browsing.first_pointed_ms(REPO, LATEST, one.digest) == first.timestamp_ms
    assert await browsing.first_pointed_ms(REPO, LATEST, two.digest) == second.timestamp_ms
    assert await browsing.first_pointed_ms(REPO, LATEST, manifest(3).digest) is None


async def test_a_digest_its_tags_and_referrers(store: SqlMetadataStore, browsing: Browsing) -> None:
    image, other = manifest(1), manifest(2)
    signature = manifest(3, subject=image.digest)
    await store.put_manifest(REPO, image, Tag("v1"))
    await store.put_manifest(REPO, image, LATEST)
    await store.put_manifest(REPO, other, LATEST)  # latest named the image before
    await store.put_manifest(REPO, signature, None)
    assert await browsing.exists(REPO) and not await browsing.exists(parse_name("browse/none"))
    stored = await browsing.manifest(REPO, image.digest)
    assert stored is not None and stored.content == image.content
    assert await browsing.manifest(REPO, manifest(4).digest) is None
    assert [r.digest for r in await browsing.referrers(REPO, image.digest)] == [signature.digest]
    assert await browsing.tags_naming(REPO, image.digest) == ["latest", "v1"]
    assert [(d.tag, d.digest) for d in await browsing.tags(REPO, None, None)] == [
        ("latest", other.digest),
        ("v1", image.digest),
    ]
    [summary] = await browsing.summaries([REPO, "browse/none"])
    assert (summary.name, summary.tag_count) == (REPO, 2)
