"""A watch round over many unchanged tags: what it asks the upstream, and how long it takes.

A local CNCF Distribution (Debian's ``docker-registry``) holds one small image under ``--tags``
tags. A first round (``registry.mirror_watch.WatchRound``, in this process, on a fresh SQLite
store and filesystem blob storage) mirrors them all; the second one, timed, finds every tag
unchanged. The upstream client's transport counts its requests by method and path kind, so the
report says what the round cost the upstream: one HEAD per tag and one tag list GET, no
manifest or blob GET. The round runs without the request-rate limit (the server's watches have
one, ``mirror_requests_per_second``: at the default 10 a second a round of 500 tags takes at
least 50 s, whatever the machine); the time measured is what the round itself costs.

    .venv/bin/python -m bench.mirror_watch [--tags 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from bench.mirror_pull import push_blob
from bench.servers import start_distribution
from tagtrail.blobs.filesystem import FilesystemDriver
from tagtrail.meta.mirror_state import Watch
from tagtrail.meta.mirrors import MirrorRecord
from tagtrail.meta.sql import SqlMetadataStore
from tagtrail.registry.mirror_sync import MirrorSync
from tagtrail.registry.mirror_upstreams import Mirrored
from tagtrail.registry.mirror_watch import RoundResult, WatchRound
from tagtrail.types import RepoName
from tagtrail.upstream.client import Upstream

REPO = "bench/watched"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts each request by method and what it asks for (tags, manifests, blobs, other)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        kind = next((k for k in ("tags", "manifests", "blobs") if f"/{k}/" in path), "other")
        self.counts[f"{request.method} {kind}"] += 1
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _push(url: str, tags: int) -> None:
    """One small image (a config and a layer), under ``tags`` tags."""
    with httpx.Client(base_url=url, timeout=30) as http:
        config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
        layer = os.urandom(1024)
        descriptors = []
        for data in (config, layer):
            digest = push_blob(http, REPO, data)
            descriptors.append({"digest": digest, "size": len(data)})
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json"}
                | descriptors[0],
                "layers": [
                    {"mediaType": "application/vnd.oci.image.layer.v1.tar"} | descriptors[1]
                ],
            }
        ).encode()
        for n in range(tags):
            put = http.put(
                f"/v2/{REPO}/manifests/t{n:04d}",
                content=manifest,
                headers={"Content-Type": OCI_MANIFEST},
            )
            assert put.status_code == 201, put.text


async def _rounds(url: str, work: Path) -> tuple[RoundResult, RoundResult, Counter[str], float]:
    meta = await SqlMetadataStore.open(f"sqlite:///{work / 'meta.db'}")
    driver = FilesystemDriver(work / "blobs")
    try:
        rounds = WatchRound(MirrorSync(meta, meta, meta, driver), meta)
        mirrored = Mirrored(MirrorRecord("dist", url), RepoName(f"dist/{REPO}"), REPO)
        watch = Watch(mirrored.local)
        counting = CountingTransport()
        async with Upstream(url, transport=counting) as upstream:
            first = await rounds.run(watch, mirrored, upstream, patience_ms=0)
            counting.counts.clear()
            started = time.perf_counter()
            second = await rounds.run(watch, mirrored, upstream, patience_ms=0)
            elapsed = time.perf_counter() - started
        return first, second, counting.counts, elapsed
    finally:
        await driver.close()
        await meta.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tags", type=int, default=500, help="tags upstream (default 500)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tagtrail-bench-watch-") as tmp:
        work = Path(tmp)
        upstream = start_distribution(work / "distribution")
        try:
            _push(upstream.url, args.tags)
            (work / "tagtrail").mkdir()
            first, second, counts, elapsed = asyncio.run(_rounds(upstream.url, work / "tagtrail"))
        finally:
            upstream.stop()
    assert first.moved == args.tags and first.error is None, first
    assert second.moved == 0 and second.checked == args.tags and second.error is None, second
    heads = counts["HEAD manifests"]
    gets = {k: n for k, n in counts.items() if k.startswith("GET") and k != "GET tags"}
    print(f"first round: {first.moved} tags mirrored")
    print(f"second round over {args.tags} unchanged tags: {dict(sorted(counts.items()))}")
    verdict = "one HEAD per tag, no GET" if heads == args.tags and not gets else "MORE REQUESTS"
    print(f"{verdict} (besides {counts['GET tags']} tag list page(s)); round took {elapsed:.2f} s")
    return 0 if verdict.startswith("one") else 1


if __name__ == "__main__":
    raise SystemExit(main())
