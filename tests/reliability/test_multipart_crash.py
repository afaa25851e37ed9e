"""SIGKILL during multipart uploads on S3 (the session's RGW): several clients push blobs of a
few S3 parts each, monolithic and in chunks, and the server is killed while multipart uploads
are open in the bucket. After a restart every acknowledged blob is served intact; after
``tagtrail gc`` past the grace period (and the upload expiry) no multipart upload of the
killed run is left in the bucket, so none of its parts is either, and no upload data."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from pathlib import Path
from typing import Any

import httpx

from tagtrail.config import MIN_PART_SIZE
from tests.reliability import crashes
from tests.reliability.pusher import Acknowledged, sha256
from tests.reliability.scenarios import run_gc
from tests.s3 import S3Endpoint
from tests.server import RunningServer, start_server
from tests.ssl_context import SHARED

CLIENTS = 4
REPO = "crash/multipart"
MULTIPART_TIMEOUT = 60  # seconds for the pushes to open multipart uploads and finish one blob


def _blob(rng: random.Random) -> bytes:
    """Two or three parts of S3's smallest size: the driver uploads it in parts."""
    return rng.randbytes(2 * MIN_PART_SIZE + rng.randrange(MIN_PART_SIZE))


async def _push(http: httpx.AsyncClient, data: bytes, chunked: bool) -> str | None:
    """Push ``data``, monolithic or in 3-MiB PATCHes (which wait in the upload's buffer object
    until a part fills); its digest once acknowledged, None when the server answered else."""
    digest = sha256(data)
    if not chunked:
        done = await http.post(
            f"/v2/{REPO}/blobs/uploads/", params={"digest": digest}, content=data
        )
        return digest if done.status_code == 201 else None
    started = await http.post(f"/v2/{REPO}/blobs/uploads/")
    location = started.headers["location"]
    step = 3 * 1024 * 1024
    for first in range(0, len(data), step):
        piece = data[first : first + step]
        patched = await http.patch(
            location,
            content=piece,
            headers={"Content-Range": f"{first}-{first + len(piece) - 1}"},
        )
        if patched.status_code != 202:
            return None
        location = patched.headers["location"]
    done = await http.put(location, params={"digest": digest})
    return digest if done.status_code == 201 else None


async def _pushers(url: str, rng: random.Random, done: Acknowledged) -> None:
    """CLIENTS clients pushing blobs one after another until the server is gone."""

    async def client(seed: int) -> None:
        local = random.Random(seed)
        async with httpx.AsyncClient(base_url=url, timeout=60, verify=SHARED) as http:
            while True:
                try:
                    digest = await _push(http, _blob(local), chunked=local.random() < 0.5)
                except (httpx.TransportError, KeyError):
                    return  # killed
                if digest is not None:
                    done.blob(REPO, digest)

    await asyncio.gather(*(client(rng.randrange(2**32)) for _ in range(CLIENTS)))


def _open_multipart(bucket: Any, name: str) -> list[dict[str, Any]]:
    listed = bucket.list_multipart_uploads(Bucket=name, Prefix="uploads/")
    uploads: list[dict[str, Any]] = listed.get("Uploads", [])
    return uploads


async def _crash_during_multipart(
    server: RunningServer, bucket: Any, name: str, rng: random.Random, done: Acknowledged
) -> None:
    """Push until a blob is acknowledged and multipart uploads are open, then SIGKILL."""
    pushing = asyncio.create_task(_pushers(server.url, rng, done))
    deadline = time.monotonic() + MULTIPART_TIMEOUT
    while not done.blobs or not await asyncio.to_thread(_open_multipart, bucket, name):
        assert not pushing.done(), "the pushers stopped before the crash"
        assert time.monotonic() < deadline, f"no multipart upload open within {MULTIPART_TIMEOUT} s"
        await asyncio.sleep(0.05)
    crashes.crash(server)
    await pushing


async def _pull_all(url: str, done: Acknowledged) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60, verify=SHARED) as http:
        for digest in done.blobs[REPO]:
            pulled = await http.get(f"/v2/{REPO}/blobs/{digest}", follow_redirects=True)
            assert pulled.status_code == 200, (digest, pulled.status_code)
            assert "sha256:" + hashlib.sha256(pulled.content).hexdigest() == digest


def test_sigkill_during_multipart_uploads_keeps_acknowledged_blobs_and_leaves_no_parts(
    tmp_path: Path, s3: S3Endpoint
) -> None:
    name = s3.new_bucket()
    bucket = s3.client()
    settings = s3.settings(name, part_size=MIN_PART_SIZE)
    env = {"TAGTRAIL_BLOB_STORE": "s3", "TAGTRAIL_S3": json.dumps(settings)}
    data_dir = tmp_path / "data"
    done = Acknowledged()

    server = start_server(data_dir, env=env)
    try:
        asyncio.run(_crash_during_multipart(server, bucket, name, crashes.seed(), done))
    finally:
        server.stop()
    killed_at = time.time()
    killed = {u["UploadId"] for u in _open_multipart(bucket, name)}
    assert killed, "the crash left no multipart upload open: it did not hit one"

    restarted = start_server(data_dir, env=env)
    try:
        asyncio.run(_pull_all(restarted.url, done))
    finally:
        restarted.stop()

    # Past the grace period and the upload expiry (1 s each, by the wall clock as gc judges
    # them): whatever the killed run left is garbage. Often past already, after the restart.
    time.sleep(max(0.0, killed_at + 1.05 - time.time()))
    gc_env = {**env, "TAGTRAIL_UPLOAD_EXPIRY_SECONDS": "1"}
    run_gc(data_dir, "--grace-seconds", "1", env=gc_env)
    assert _open_multipart(bucket, name) == []
    left = bucket.list_objects_v2(Bucket=name, Prefix="uploads/")
    assert left["KeyCount"] == 0, [o["Key"] for o in left.get("Contents", [])]
