"""Scenarios run against a SQLite server and against PostgreSQL + S3 replicas alike."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from pathlib import Path

import httpx

from tests.cli.helpers import tagtrail
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
    """``tagtrail gc`` on a server's storage (settings as the server has them), in this
    process (a gc process's own output and exit status are tests/cli/test_gc_cli.py's)."""
    done = tagtrail("gc", "--data-dir", str(data_dir), *flags, env=env)
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
    (during the pushes, or with ``grace_during`` long, in a last run after them).

    gc runs until ``seconds`` have passed, it has run at least twice and (unless the grace
    is longer) one run started after the garbage was older than the grace; the pushers go on
    until then. On a fast machine that is ``seconds``; on a slow one, where a gc process
    takes seconds to start, it takes as long as those runs take rather than failing."""
    repo = f"gcrace/{uuid.uuid4().hex[:12]}"
    done = Acknowledged()
    garbage = Acknowledged()
    async with httpx.AsyncClient(base_url=url, timeout=60, verify=SHARED) as http:
        for n in range(3):
            await push_blob(http, repo, f"garbage {n} {repo}".encode(), chunked=False, done=garbage)
    pushed = time.monotonic()
    deadline = pushed + seconds
    collected = asyncio.Event()

    async def pusher(seed: int) -> None:
        rng = random.Random(seed)
        async with httpx.AsyncClient(base_url=url, timeout=60, verify=SHARED) as http:
            while not collected.is_set():
                tag = rng.choice(("a", "b", "c"))
                await push_image(http, repo, tag, rng, done, chunked_share)

    async def collector() -> list[str]:
        outputs: list[str] = []
        swept = grace_during > seconds  # then the last run after the pushes sweeps
        try:
            while not (swept and len(outputs) >= 2 and time.monotonic() >= deadline):
                started = time.monotonic()
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
                swept = swept or started - pushed > grace_during
        finally:
            collected.set()  # the pushers stop, also when a gc run failed
        return outputs

    collecting = asyncio.create_task(collector())
    await asyncio.gather(*(pusher(n) for n in range(4)))
    outputs = await collecting
    if grace_during > seconds:
        outputs.append(run_gc(data_dir, "--delete-untagged", "--grace-seconds", "0", env=env))
    async with httpx.AsyncClient(base_url=url, timeout=60, verify=SHARED) as http:
        await verify_all(http, done)  # moved-away manifests too: their history keeps them
        for digest in garbage.blobs[repo]:
            gone = await http.get(f"/v2/{repo}/blobs/{digest}")
            assert gone.status_code == 404, f"{digest} outlived its grace: {outputs}"
