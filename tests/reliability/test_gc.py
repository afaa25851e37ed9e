"""``tagtrail gc`` on a running server's storage: what goes, what stays, and pushes racing it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx

from tests.api.helpers import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    descriptor,
    encode,
    push_blob,
    random_bytes,
    sha256,
)
from tests.reliability import scenarios
from tests.server import RunningServer
from tests.ssl_context import SHARED


def push_image(http: httpx.Client, repo: str, ref: str, **extra: object) -> tuple[str, str]:
    """An image whose layer only it uses; (manifest digest, layer digest)."""
    config, layer = json.dumps({"n": random_bytes(8).hex()}).encode(), random_bytes(1000)
    push_blob(http, repo, config)
    push_blob(http, repo, layer)
    manifest = encode(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, config),
            "layers": [descriptor(OCI_LAYER, layer)],
            **extra,
        }
    )
    digest = sha256(manifest)
    put = http.put(
        f"/v2/{repo}/manifests/{ref if ref != '@' else digest}",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert put.status_code == 201, put.text
    return digest, sha256(layer)


def test_gc_keeps_history_referrers_and_untagged_by_default(
    start_registry: Callable[..., RunningServer],
) -> None:
    server = start_registry()
    repo = "gc/app"
    with httpx.Client(base_url=server.url, timeout=30, verify=SHARED) as http:
        old, old_layer = push_image(http, repo, "latest")
        current, _ = push_image(http, repo, "latest")
        by_digest, by_digest_layer = push_image(http, repo, "@")
        signature, _ = push_image(
            http, repo, "@", subject={"mediaType": OCI_MANIFEST, "digest": current, "size": 1}
        )
        loose = random_bytes(777)
        loose_digest = push_blob(http, repo, loose)

        dry = scenarios.run_gc(server.data_dir, "--dry-run", "--grace-seconds", "0")
        assert f"would remove blob {repo} {loose_digest} (777 bytes)" in dry
        assert "would remove manifest" not in dry
        assert "would free 777 bytes" in dry
        assert http.head(f"/v2/{repo}/blobs/{loose_digest}").status_code == 200

        out = scenarios.run_gc(server.data_dir, "--grace-seconds", "0")
        assert f"removed blob bytes {loose_digest}" in out
        assert http.head(f"/v2/{repo}/blobs/{loose_digest}").status_code == 404
        assert not any(server.data_dir.glob(f"blobs/sha256/*/{loose_digest[7:]}"))
        for kept in (old, current, by_digest, signature):
            assert http.get(f"/v2/{repo}/manifests/{kept}").status_code == 200

        out = scenarios.run_gc(server.data_dir, "--delete-untagged", "--grace-seconds", "0")
        assert f"removed manifest {repo} {by_digest}" in out
        assert f"removed blob bytes {by_digest_layer}" in out
        assert http.get(f"/v2/{repo}/manifests/{by_digest}").status_code == 404
        for kept in (old, current, signature):  # history names old; signature refers current
            assert http.get(f"/v2/{repo}/manifests/{kept}").status_code == 200
        assert http.get(f"/v2/{repo}/blobs/{old_layer}").status_code == 200


def test_gc_while_pushes_continue(start_registry: Callable[..., RunningServer]) -> None:
    server = start_registry()
    asyncio.run(scenarios.gc_during_pushes(server.url, server.data_dir))
