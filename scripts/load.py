"""Bounded load test: 200 pulling and 20 pushing clients against one tagtrail on 127.0.0.1.

    .venv/bin/python scripts/load.py [--pullers 200] [--pushers 20] [--seconds 60]

Starts its own server (embedded storage, --no-auth) in a temporary directory, seeds it, warms
up, then runs the load and reports requests, errors (any non-2xx answer or transport error,
and any pulled blob or manifest whose bytes do not hash to its digest) and the server's RSS
(all its processes) after warm-up and at the end. Exits non-zero on an error or when the RSS
grew more than 20%.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
REPOS = [f"load/app{n}" for n in range(10)]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Stats:
    requests: int = 0
    pulled_bytes: int = 0
    errors: list[str] = field(default_factory=list)

    def fail(self, what: str) -> None:
        if len(self.errors) < 20:
            print(f"error: {what}", file=sys.stderr)
        self.errors.append(what)


def rss_bytes(pid: int) -> int:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        pending.extend(children.get(current, []))
        try:
            for line in (Path("/proc") / str(current) / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


async def push(http: httpx.AsyncClient, repo: str, tag: str, rng: random.Random) -> None:
    layer = rng.randbytes(rng.randint(16 * 1024, 256 * 1024))
    config = json.dumps({"nonce": rng.random()}).encode()
    for blob in (layer, config):
        done = await http.post(
            f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(blob)}, content=blob
        )
        done.raise_for_status()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {"mediaType": "application/json", "digest": sha256(config), "size": 0},
            "layers": [{"mediaType": "x", "digest": sha256(layer), "size": len(layer)}],
        }
    ).encode()
    put = await http.put(
        f"/v2/{repo}/manifests/{tag}", content=manifest, headers={"Content-Type": MANIFEST}
    )
    put.raise_for_status()


async def pull(http: httpx.AsyncClient, repo: str, tag: str, stats: Stats) -> None:
    got = await http.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST})
    stats.requests += 1
    if got.status_code != 200:
        stats.fail(f"GET manifest {repo}:{tag}: {got.status_code}")
        return
    if sha256(got.content) != got.headers["docker-content-digest"]:
        stats.fail(f"manifest {repo}:{tag} does not hash to its digest")
    for layer in json.loads(got.content)["layers"]:
        blob = await http.get(f"/v2/{repo}/blobs/{layer['digest']}")
        stats.requests += 1
        stats.pulled_bytes += len(blob.content)
        if blob.status_code != 200:
            stats.fail(f"GET blob {layer['digest']}: {blob.status_code}")
        elif sha256(blob.content) != layer["digest"]:
            stats.fail(f"blob {layer['digest']} does not hash to its digest")


async def clients(url: str, pullers: int, pushers: int, seconds: float, stats: Stats) -> None:
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=pullers + pushers, max_keepalive_connections=None)

    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:

        async def puller(seed: int) -> None:
            rng = random.Random(seed)
            while time.monotonic() < deadline:
                try:
                    await pull(http, rng.choice(REPOS), rng.choice(("latest", "stable")), stats)
                except httpx.HTTPError as exc:
                    stats.fail(f"pull: {type(exc).__name__} {exc}")

        async def pusher(seed: int) -> None:
            rng = random.Random(seed)
            while time.monotonic() < deadline:
                try:
                    await push(http, rng.choice(REPOS), rng.choice(("latest", "stable")), rng)
                    stats.requests += 3
                except httpx.HTTPError as exc:
                    stats.fail(f"push: {type(exc).__name__} {exc}")

        await asyncio.gather(
            *(puller(n) for n in range(pullers)), *(pusher(10_000 + n) for n in range(pushers))
        )


def start(data: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAGTRAIL_")}
    log = (data.parent / "server.log").open("wb")
    command = [sys.executable, "-m", "tagtrail", "serve", "--no-auth", "--data-dir", str(data)]
    process = subprocess.Popen(
        [*command, "--listen", f"127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/v2/", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the server did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pullers", type=int, default=200)
    parser.add_argument("--pushers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tagtrail-load-") as tmp:
        process, url = start(Path(tmp) / "data")
        try:

            async def seed() -> None:
                async with httpx.AsyncClient(base_url=url, timeout=60) as http:
                    rng = random.Random(0)
                    for repo in REPOS:
                        for tag in ("latest", "stable"):
                            await push(http, repo, tag, rng)

            asyncio.run(seed())
            warm = Stats()
            asyncio.run(clients(url, args.pullers, args.pushers, args.warmup, warm))
            after_warmup = rss_bytes(process.pid)
            stats = Stats()
            began = time.monotonic()
            asyncio.run(clients(url, args.pullers, args.pushers, args.seconds, stats))
            elapsed = time.monotonic() - began
            at_end = rss_bytes(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)
    growth = at_end / after_warmup - 1
    print(f"clients: {args.pullers} pulling, {args.pushers} pushing, {elapsed:.1f} s")
    print(f"requests: {stats.requests} ({stats.requests / elapsed:.0f}/s), ", end="")
    print(f"pulled {stats.pulled_bytes / 2**20:.0f} MiB")
    print(f"errors: {len(stats.errors)} (warm-up: {len(warm.errors)})")
    print(f"server RSS after warm-up: {after_warmup / 2**20:.1f} MiB, ", end="")
    print(f"at the end: {at_end / 2**20:.1f} MiB ({growth:+.1%})")
    return 0 if not stats.errors and not warm.errors and growth <= 0.20 else 1


if __name__ == "__main__":
    sys.exit(main())
