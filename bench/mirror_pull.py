"""Pull-through against pulls of what is held: what a mirror's prefix costs a pull.

A local CNCF Distribution (Debian's ``docker-registry``) is the upstream of tagtrail's mirror
``dist`` (check interval one hour, so every measured tag pull is within it). Two measures:

(a) manifest GET by tag through the mirror, within its interval, against a GET of the same
    manifest pushed to a local repository: requests a second with wrk (2 threads, 16
    connections) when it is installed (``bench/run`` installs it), else with an httpx loop in
    this process (the client is then the bottleneck, the same for both). Expected ratio >= 0.9:
    a pull within the interval costs one more indexed read (the tag's last check).
(b) the first pull of a new 100 MB blob through the mirror (fetched from the upstream, streamed
    to the client while stored) against a GET of the same blob from Distribution directly, with
    curl; each repetition pushes a new blob. Expected ratio >= 0.8. Beside them, the same blob
    through ``bench.relay``: Python with no framework receiving, hashing, storing and sending
    the bytes, about the most a Python mirror gets out of this machine.
(c) the same as (b) with the upstream a network link away (``bench.paced_proxy``, 1 Gbit/s by
    default, ``--link-mbit``): Distribution behind the paced proxy, pulled through it directly
    and through a second mirror (``paced``) of it. (b) measures what the mirror's streaming
    costs when the upstream sends at memory speed; (c) whether a first pull keeps an upstream's
    real pace.

    .venv/bin/python -m bench.mirror_pull [--seconds 5] [--repetitions 3] [--part a|b|c]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench.loadgen import wrk
from bench.paced_proxy import PacedProxy
from bench.relay import Relay
from bench.servers import start_distribution, start_tagtrail

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
BIG = 100 * 1024 * 1024


def push_blob(http: httpx.Client, repo: str, data: bytes) -> str:
    """Push ``data`` as a blob of ``repo`` in one monolithic PUT; its digest."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    started = http.post(f"/v2/{repo}/blobs/uploads/")
    location = httpx.URL(started.headers["location"])
    done = http.put(
        str(http.base_url.join(location.path).copy_with(query=location.query)),
        params={**dict(location.params), "digest": digest},
        content=data,
    )
    assert done.status_code == 201, done.text
    return digest


def _push_small(url: str, repo: str) -> None:
    """The same small image (a config and a 1 KB layer) under ``repo:v1``."""
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    layer = b"x" * 1024
    with httpx.Client(base_url=url, timeout=60) as http:
        descriptors = [
            {"mediaType": kind, "digest": push_blob(http, repo, data), "size": len(data)}
            for kind, data in (
                ("application/vnd.oci.image.config.v1+json", config),
                ("application/vnd.oci.image.layer.v1.tar", layer),
            )
        ]
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptors[0],
            "layers": descriptors[1:],
        }
        put = http.put(
            f"/v2/{repo}/manifests/v1",
            content=json.dumps(manifest).encode(),
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert put.status_code == 201, put.text


def _tagtrail_cli(data: Path, *args: str) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAGTRAIL_")}
    command = [sys.executable, "-m", "tagtrail", *args[:1], "--data-dir", str(data), *args[1:]]
    subprocess.run(command, check=True, capture_output=True, env=clean, timeout=120)


def _httpx_rate(url: str, seconds: int) -> float:
    """Requests a second of 4 keep-alive clients in threads, for ``seconds``."""
    deadline = time.monotonic() + seconds

    def loop(_: int) -> int:
        done = 0
        with httpx.Client(headers={"Accept": OCI_MANIFEST}, timeout=30) as http:
            while time.monotonic() < deadline:
                assert http.get(url).status_code == 200
                done += 1
        return done

    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        total = sum(pool.map(loop, range(4)))
    return total / (time.monotonic() - started)


def _rate(url: str, seconds: int) -> float:
    if shutil.which("wrk"):
        result = wrk(
            url, threads=2, connections=16, seconds=seconds, headers={"Accept": OCI_MANIFEST}
        )
        assert result.errors == 0, result
        return result.requests_per_second
    return _httpx_rate(url, seconds)


def _download_seconds(url: str) -> float:
    """curl's total time for ``url``, body discarded; fails on anything but 200."""
    out = subprocess.run(
        ["curl", "-sS", "-f", "-o", "/dev/null", "-w", "%{time_total} %{size_download}", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout.split()
    assert int(out[1]) == BIG, out
    return float(out[0])


def _warm_blob_path(upstream: httpx.Client, tagtrail: str) -> None:
    """Pull a few small new blobs through the mirror first: the measure is a blob's first
    pull, not a worker's first use of the blob path (its upstream session, its TLS context,
    its first queries), which every worker pays once. Several, so that each worker serves
    one, most likely."""
    for index in range(4 * (os.cpu_count() or 1)):
        digest = push_blob(upstream, f"bench/warm{index}", os.urandom(1024 * 1024))
        pulled = httpx.get(f"{tagtrail}/v2/dist/bench/warm{index}/blobs/{digest}", timeout=60)
        assert pulled.status_code == 200, pulled.text


def _report_rates(local: list[float], mirror: list[float], repetitions: int, seconds: int) -> None:
    tool = "wrk" if shutil.which("wrk") else "httpx loop (wrk not installed)"
    local_rps, mirror_rps = statistics.median(local), statistics.median(mirror)
    print(f"(a) manifest GET by tag, {tool}, median of {repetitions} x {seconds} s")
    print(f"    local repository        {local_rps:10.0f} req/s")
    print(f"    through the mirror      {mirror_rps:10.0f} req/s")
    print(f"    ratio                   {mirror_rps / local_rps:10.2f}  (expected >= 0.9)")


def _report_pulls(
    title: str, direct: list[float], through: list[float], relayed: list[float]
) -> None:
    """Medians, and every repetition: the first pull's pace varies with what else runs."""
    direct_s, through_s = statistics.median(direct), statistics.median(through)
    print(f"{title}, curl, median of {len(direct)}")
    print(f"    from Distribution       {BIG / direct_s / 1e6:10.0f} MB/s")
    print(f"    through the mirror      {BIG / through_s / 1e6:10.0f} MB/s")
    print(f"    ratio                   {direct_s / through_s:10.2f}  (expected >= 0.8)")
    each = ", ".join(
        f"{BIG / d / 1e6:.0f}/{BIG / t / 1e6:.0f}" for d, t in zip(direct, through, strict=True)
    )
    print(f"    each (direct/mirror)    {each} MB/s")
    if relayed:
        relayed_s = statistics.median(relayed)
        print(f"    through bench.relay     {BIG / relayed_s / 1e6:10.0f} MB/s")
        print(f"    its ratio (the ceiling) {direct_s / relayed_s:10.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--part", choices=("a", "b", "c"), help="measure one part only")
    parser.add_argument("--link-mbit", type=float, default=1000, help="(c)'s link, Mbit/s")
    args = parser.parse_args(argv)
    parts = {args.part} if args.part else {"a", "b", "c"}
    work = Path(tempfile.mkdtemp(prefix="tagtrail-mirror-pull-"))
    upstream = start_distribution(work / "distribution")
    tagtrail = None
    paced = PacedProxy(upstream.port, args.link_mbit * 1e6 / 8).start()
    relay = Relay(upstream.port, work / "relayed").start()
    try:
        data = work / "tagtrail"
        _tagtrail_cli(data, "db", "upgrade")
        for prefix, url in (("dist", upstream.url), ("paced", paced.url)):
            _tagtrail_cli(data, "admin", "mirror", "add", prefix, url, "--check-interval", "1h")
        tagtrail = start_tagtrail(data, workers=os.cpu_count() or 1)
        _push_small(upstream.url, "bench/small")
        _push_small(tagtrail.url, "local/small")
        mirrored = f"{tagtrail.url}/v2/dist/bench/small/manifests/v1"
        local = f"{tagtrail.url}/v2/local/small/manifests/v1"
        # The first pull checks the tag and fetches the manifest; the measured ones are within
        # the interval. Every worker sees the mirror within its 2 s cache.
        deadline = time.monotonic() + 30
        while httpx.get(mirrored, headers={"Accept": OCI_MANIFEST}).status_code != 200:
            assert time.monotonic() < deadline, "the mirror did not serve"
            time.sleep(0.2)
        local_rates, mirror_rates = [], []
        for _ in range(args.repetitions if "a" in parts else 0):
            local_rates.append(_rate(local, args.seconds))
            mirror_rates.append(_rate(mirrored, args.seconds))
        pulls: dict[str, tuple[list[float], list[float], list[float]]] = {}
        with httpx.Client(base_url=upstream.url, timeout=300) as http:
            if parts & {"b", "c"}:
                _warm_blob_path(http, tagtrail.url)
            for part, prefix, source in (("b", "dist", upstream.url), ("c", "paced", paced.url)):
                for index in range(args.repetitions if part in parts else 0):
                    repo = f"bench/big{part}{index}"
                    digest = push_blob(http, repo, os.urandom(BIG))
                    direct, through, relayed = pulls.setdefault(part, ([], [], []))
                    direct.append(_download_seconds(f"{source}/v2/{repo}/blobs/{digest}"))
                    through.append(
                        _download_seconds(f"{tagtrail.url}/v2/{prefix}/{repo}/blobs/{digest}")
                    )
                    if part == "b":
                        relayed.append(_download_seconds(f"{relay.url}/v2/{repo}/blobs/{digest}"))
        if local_rates:
            _report_rates(local_rates, mirror_rates, args.repetitions, args.seconds)
        titles = {
            "b": "(b) first pull of a new 100 MB blob",
            "c": f"(c) the same, the upstream behind a {args.link_mbit:g} Mbit/s link",
        }
        for part, (direct, through, relayed) in pulls.items():
            _report_pulls(titles[part], direct, through, relayed)
    finally:
        if tagtrail is not None:
            tagtrail.stop()
        relay.stop()
        paced.stop()
        upstream.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
