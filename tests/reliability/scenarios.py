"""Scenarios run against a SQLite server and against PostgreSQL + S3 replicas alike."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from tests.reliability.pusher import (
    OCI_MANIFEST,
    Acknowledged,
    push_blob,
    push_image,
    sha256,
    verify_all,
    verify_blob,
)
from tests.ssl_context import SHARED


def run_gc(data_dir: Path, *flags: str, env: dict[str, str] | None = None) -> str:
    """``tagtrail gc`` on a server's storage (settings as the server has them)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TAGTRAIL_")}
    done = subprocess.run(
        [sys.executable, "-m", "tagtrail", "gc", "--data-dir", str(data_dir), *flags],
        capture_output=True,
        text=True,
        env={**environment, **(env or {})},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def same_blob_from_many_clients(urls: list[str], *, chunked: bool = True) -> None:
    """20 clients push one blob at once (half of them in chunks unless ``chunked`` is off):
    all 201, one blob, served intact."""
    repo = f"race/{uuid.uuid4().hex[:12]}"
    data = random.Random(1).randbytes(300_000)
    done = Acknowledged()

    async def one(n: int) -> None:
        async with httpx.AsyncClient(
            base_url=urls[n % len(urls)], timeout=60, verify=SHARED
        ) as http:
            await push_blob(http, repo, data, chunked=chunked and bool(n % 2), done=done)

    await asyncio.gather(*(one(n) for n in range(20)))
    for url in urls:
        async with httpx.AsyncClient(base_url=url, timeout=60, verify=SHARED) as http:
            await verify_blob(http, repo, sha256(data))


async def one_tag_moved_by_many_clients(urls: list[str]) -> None:
    """30 clients move one tag to 30 different manifests: 30 records, in one strict order,
    the tag ends at the newest; none lost, none doubled."""
    repo = f"race/{uuid.uuid4().hex[:12]}"
    async with httpx.AsyncClient(base_url=urls[0], timeout=60, verify=SHARED) as http:
        config = await push_blob(http, repo, b"{}", chunked=False, done=Acknowledged())

    def manifest(n: int) -> bytes:
        return json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/json", "digest": config, "size": 2},
                "layers": [],
                "annotations": {"n": str(n)},
            }
        ).encode()

    async def move(n: int) -> str:
        async with httpx.AsyncClient(
            base_url=urls[n % len(urls)], timeout=60, verify=SHARED
        ) as http:
            response = await http.put(
                f"/v2/{repo}/manifests/hot",
                content=manifest(n),
                headers={"Content-Type": OCI_MANIFEST},
            )
            assert response.status_code == 201, response.text
            return sha256(manifest(n))

    pushed = await asyncio.gather(*(move(n) for n in range(30)))
    async with httpx.AsyncClient(base_url=urls[-1], timeout=60, verify=SHARED) as http:
        history = (await http.get(f"/v2/{repo}/_chainguard/history/hot")).json()["history"]
        digests = [entry["digest"] for entry in history]
        assert sorted(digests) == sorted(pushed)
        stamps = [entry["updateTimestamp"] for entry in history]
        assert stamps == sorted(set(stamps))
        current = await http.head(f"/v2/{repo}/manifests/hot", headers={"Accept": OCI_MANIFEST})
        assert current.headers["docker-content-digest"] == digests[-1]


async def gc_during_pushes(
    url: str,
    data_dir: Path,
    env: dict[str, str] | None = None,
    seconds: float = 4,
    grace_during: int = 2,
    chunked_share: float = 0.5,
) -> None:
    """gc --delete-untagged runs over and over while pushes continue: every push succeeds
    and everything acknowledged stays pullable, while garbage older than the grace goes
    (during the pushes, or with ``grace_during`` long, in a last run after them)."""
    repo = f"gcrace/{uuid.uuid4().hex[:12]}"
    done = Acknowledged()
    garbage = Acknowledged()
    async with httpx.AsyncClient(base_url=url, timeout=60, verify=SHARED) as http:
        for n in range(3):
            await push_blob(http, repo, f"garbage {n} {repo}".encode(), chunked=False, done=garbage)
    deadline = time.monotonic() + seconds

    async def pusher(seed: int) -> None:
        rng = random.Random(seed)
        async with httpx.AsyncClient(base_url=url, timeout=60, verify=SHARED) as http:
            while time.monotonic() < deadline:
                tag = rng.choice(("a", "b", "c"))
                await push_image(http, repo, tag, rng, done, chunked_share)

    async def collector() -> list[str]:
        outputs: list[str] = []
        while time.monotonic() < deadline:
            outputs.append(
                await asyncio.to_thread(
                    run_gc,
                    data_dir,
                    "--delete-untagged",
                    "--grace-seconds",
                    str(grace_during),
                    env=env,
                )
            )
        return outputs

    collecting = asyncio.create_task(collector())
    await asyncio.gather(*(pusher(n) for n in range(4)))
    outputs = await collecting
    assert len(outputs) >= 2
    if grace_during > seconds:
        outputs.append(run_gc(data_dir, "--delete-untagged", "--grace-seconds", "0", env=env))
    async with httpx.AsyncClient(base_url=url, timeout=60, verify=SHARED) as http:
        await verify_all(http, done)  # moved-away manifests too: their history keeps them
        for digest in garbage.blobs[repo]:
            gone = await http.get(f"/v2/{repo}/blobs/{digest}")
            assert gone.status_code == 404, f"{digest} outlived its grace: {outputs}"
