"""gc keeps what a mirror recorded as it keeps pushed content: every digest a mirrored tag's
history names still pulls after ``tagtrail gc --delete-untagged``, with its blobs and, for an
index, its children (stored by the mirror without a tag of their own)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.mirror.local import add_mirror, mirror_host
from tests.mirror.upstreams import OCI_MANIFEST, Distribution, Image, push_image, sha256
from tests.reliability.scenarios import run_gc

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ACCEPT = f"{OCI_MANIFEST}, {OCI_INDEX}"


def push_index(http: httpx.Client, repo: str, tag: str) -> tuple[str, list[Image]]:
    """An index of two images (pushed by tag first, then the index under ``tag``)."""
    children = [push_image(http, repo, f"child-{n}") for n in range(2)]
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": child.digest,
                    "size": len(child.manifest),
                    "platform": {"os": "linux", "architecture": arch},
                }
                for child, arch in zip(children, ("amd64", "arm64"), strict=True)
            ],
        }
    ).encode()
    put = http.put(
        f"/v2/{repo}/manifests/{tag}", content=index, headers={"Content-Type": OCI_INDEX}
    )
    assert put.status_code == 201, put.text
    return sha256(index), children


def assert_pulls(client: httpx.Client, name: str, digest: str) -> None:
    """The manifest ``digest`` and everything it references pull, each matching its digest."""
    response = client.get(f"/v2/{name}/manifests/{digest}", headers={"Accept": ACCEPT})
    assert response.status_code == 200, (digest, response.text)
    assert sha256(response.content) == digest
    document: dict[str, Any] = response.json()
    for child in document.get("manifests", []):
        assert_pulls(client, name, child["digest"])
    blobs = [document["config"], *document["layers"]] if "config" in document else []
    for blob in blobs:
        got = client.get(f"/v2/{name}/blobs/{blob['digest']}")
        assert got.status_code == 200, (blob["digest"], got.text)
        assert sha256(got.content) == blob["digest"]


def test_gc_keeps_every_mirrored_digest_pullable(
    tmp_path: Path, distribution: Distribution, distribution_http: httpx.Client
) -> None:
    upstream = f"lib/gc-{uuid.uuid4().hex[:10]}"
    local = f"d/{upstream}"
    with mirror_host(tmp_path / "data") as host, host.client() as client:
        add_mirror(host.api.data_dir, "d", distribution.url)
        first = push_image(distribution_http, upstream, "v1", layers=2)
        assert host.check(local, "v1", fetch_blobs=True).moved
        index, _ = push_index(distribution_http, upstream, "v1")
        assert host.check(local, "v1", fetch_blobs=True).moved
        last = push_image(distribution_http, upstream, "v1")
        assert host.check(local, "v1", fetch_blobs=True).moved
        history = client.get(f"/v2/{local}/_oci/tag-history/v1").json()["manifests"]
        named = [entry["digest"] for entry in history]
        assert named == [last.digest, index, first.digest]
        for digest in named:
            assert_pulls(client, local, digest)

        out = run_gc(host.api.data_dir, "--delete-untagged", "--grace-seconds", "0")
        assert "removed manifest" not in out and "removed blob" not in out, out
        for digest in named:
            assert_pulls(client, local, digest)
