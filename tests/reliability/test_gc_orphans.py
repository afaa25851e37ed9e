"""``tagtrail gc`` finds blob bytes and upload data no database row records (left by a crash
between the driver's commit and the metadata's, or by a gc whose deletion failed), on a running
server's filesystem storage and on S3 (RGW)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.api.helpers import random_bytes, sha256
from tests.reliability import scenarios
from tests.reliability.test_gc import push_image
from tests.s3 import S3Endpoint
from tests.server import RunningServer, start_server
from tests.ssl_context import SHARED

HOURS_2_NS = 2 * 3600 * 10**9


def blob_key(digest: str) -> str:
    algorithm, hex_ = digest.split(":")
    return f"blobs/{algorithm}/{hex_[:2]}/{hex_}"


def plant_file(path: Path, data: bytes, *, old: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if old:
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - HOURS_2_NS))


def test_gc_removes_old_unrecorded_bytes_on_the_filesystem(
    start_registry: Callable[..., RunningServer],
) -> None:
    server = start_registry()
    repo = "orphans/app"
    with httpx.Client(base_url=server.url, timeout=30, verify=SHARED) as http:
        kept, layer = push_image(http, repo, "latest")
    old, young, left = random_bytes(1234), random_bytes(99), random_bytes(10)
    plant_file(server.data_dir / blob_key(sha256(old)), old, old=True)
    plant_file(server.data_dir / blob_key(sha256(young)), young, old=False)
    abandoned = "e" * 32  # upload data whose session row is gone
    plant_file(server.data_dir / "uploads" / abandoned, left, old=True)

    dry = scenarios.run_gc(server.data_dir, "--dry-run")
    assert f"would remove orphaned blob bytes {sha256(old)} (1.2 kB)" in dry
    assert f"would remove orphaned upload {abandoned}" in dry
    assert sha256(young) not in dry
    assert "1 orphaned blob bytes, 0 expired uploads, 1 orphaned uploads" in dry
    assert "would free 1.2 kB" in dry
    assert (server.data_dir / blob_key(sha256(old))).is_file()
    assert (server.data_dir / "uploads" / abandoned).is_file()

    out = scenarios.run_gc(server.data_dir)
    assert f"removed orphaned blob bytes {sha256(old)} (1.2 kB)" in out
    assert f"removed orphaned upload {abandoned}" in out
    assert "freed 1.2 kB" in out
    assert not (server.data_dir / blob_key(sha256(old))).exists()
    assert not (server.data_dir / "uploads" / abandoned).exists()
    assert (server.data_dir / blob_key(sha256(young))).is_file()
    with httpx.Client(base_url=server.url, timeout=30, verify=SHARED) as http:
        assert http.get(f"/v2/{repo}/manifests/{kept}").status_code == 200
        assert http.get(f"/v2/{repo}/blobs/{layer}").status_code == 200
    assert "removed orphaned" not in scenarios.run_gc(server.data_dir)


def test_gc_removes_unrecorded_bytes_on_s3(tmp_path: Path, s3: S3Endpoint) -> None:
    """S3 stamps LastModified itself, so what is old is decided by the grace period asked."""
    bucket = s3.new_bucket()
    env = {"TAGTRAIL_BLOB_STORE": "s3", "TAGTRAIL_S3": json.dumps(s3.settings(bucket))}
    server = start_server(tmp_path / "data", env=env)
    try:
        repo = "orphans/s3"
        with httpx.Client(base_url=server.url, timeout=30, verify=SHARED) as http:
            _, layer = push_image(http, repo, "latest")
        orphan = random_bytes(4321)
        client = s3.client()
        client.put_object(Bucket=bucket, Key=blob_key(sha256(orphan)), Body=orphan)

        def stored(digest: str) -> bool:
            listed = client.list_objects_v2(Bucket=bucket, Prefix=blob_key(digest))
            return bool(listed.get("Contents"))

        young = scenarios.run_gc(server.data_dir, env=env)  # the default grace: an hour
        assert "0 orphaned blob bytes" in young
        dry = scenarios.run_gc(server.data_dir, "--dry-run", "--grace-seconds", "0", env=env)
        assert f"would remove orphaned blob bytes {sha256(orphan)} (4.3 kB)" in dry
        assert "would free 4.3 kB" in dry
        assert stored(sha256(orphan))

        out = scenarios.run_gc(server.data_dir, "--grace-seconds", "0", env=env)
        assert f"removed orphaned blob bytes {sha256(orphan)} (4.3 kB)" in out
        assert not stored(sha256(orphan))
        assert stored(layer)  # a tagged image's layer: rows record it
    finally:
        server.stop()
