"""What the metadata-store contract tests share: a repository, a config blob, manifests."""

from __future__ import annotations

import json

from tagtrail.meta.store import HistoryStore
from tagtrail.types import OCI_MANIFEST, Digest, Manifest, RepoName, Tag

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


async def history_of(store: HistoryStore, tag: str) -> list[tuple[str, str]]:
    records = await store.history(REPO, Tag(tag), start_ms=None, end_ms=None, limit=10_000)
    return [(str(r.digest), r.event) for r in records]
