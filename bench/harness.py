"""tagtrail side by side with CNCF Distribution: same machine, same run, same content, same load.

Run with ``bench/run`` (see bench/README.md). Prints one table and writes bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.content import OCI_MANIFEST, Image, build_image, random_payload
from bench.history_scale import measure, recording_cost
from bench.loadgen import LoadResult, ab, wrk
from bench.report import Row, render
from bench.servers import (
    Server,
    free_port,
    start_distribution,
    start_nginx,
    start_noop,
    start_tagtrail,
)
from bench.upload import curl_upload, random_blob

MB = 1024 * 1024
ACCEPT = {"Accept": OCI_MANIFEST}


@dataclass
class PeakRss:
    """Peak memory of each server while sampled: summed RSS (``peaks``) and PSS (``pss``)."""

    servers: list[Server]
    peaks: dict[str, int] = field(default_factory=dict)
    pss: dict[str, int] = field(default_factory=dict)

    @contextmanager
    def sampling(self) -> Iterator[None]:
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.25):
                for server in self.servers:
                    rss, pss = server.rss_bytes(), server.pss_bytes()
                    self.peaks[server.name] = max(self.peaks.get(server.name, 0), rss)
                    self.pss[server.name] = max(self.pss.get(server.name, 0), pss)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


@dataclass(frozen=True)
class Pushed:
    manifest_digest: str
    layer_digest: str


def pushed(server: Server, repository: str, tag: str) -> Pushed:
    """The digests as the registry holds them (read back, never assumed)."""
    answer = httpx.get(
        f"{server.url}/v2/{repository}/manifests/{tag}",
        headers={**ACCEPT, **server.basic},
        timeout=30,
    )
    answer.raise_for_status()
    return Pushed(answer.headers["docker-content-digest"], answer.json()["layers"][0]["digest"])


def skopeo_push(image: Image, server: Server, repository: str) -> float:
    began = time.perf_counter()
    subprocess.run(
        [
            "skopeo",
            "--policy",
            str(_policy()),
            "copy",
            "--dest-tls-verify=false",
            *([f"--dest-creds={':'.join(server.login)}"] if server.login else []),
            f"oci:{image.layout}:{image.tag}",
            f"docker://{server.host}/{repository}:{image.tag}",
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return time.perf_counter() - began


def _policy() -> Path:
    path = Path(tempfile.gettempdir()) / "tagtrail-bench-policy.json"
    path.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    return path


def _median_row(label: str, seconds: dict[str, list[float]]) -> Row:
    """Median wall times of each server's repetitions."""
    return Row(
        label,
        "s",
        statistics.median(seconds["tagtrail"]),
        statistics.median(seconds["distribution"]),
    )


def _median_load(runs: list[LoadResult]) -> LoadResult:
    return LoadResult(
        statistics.median(r.requests_per_second for r in runs),
        statistics.median(r.p50_ms for r in runs),
        statistics.median(r.p99_ms for r in runs),
        statistics.median(r.bytes_per_second for r in runs),
        sum(r.errors for r in runs),
    )


def compare(
    servers: list[Server], repetitions: int, run: Callable[[Server], LoadResult]
) -> dict[str, LoadResult]:
    """Alternate the servers within each repetition, so drift hits both alike."""
    results: dict[str, list[LoadResult]] = {s.name: [] for s in servers}
    for rep in range(repetitions):
        order = servers if rep % 2 == 0 else list(reversed(servers))
        for server in order:
            results[server.name].append(run(server))
    return {name: _median_load(runs) for name, runs in results.items()}


def _ceiling(server: Server, seconds: int, repetitions: int) -> LoadResult:
    """The median of GETs of ``/manifest`` from a server that only serves it; then stopped."""
    try:
        return _median_load(
            [
                wrk(
                    f"{server.url}/manifest",
                    threads=2,
                    connections=64,
                    seconds=seconds,
                    headers={},
                )
                for _ in range(repetitions)
            ]
        )
    finally:
        server.stop()


def iperf(streams: int, seconds: int) -> float:
    port = free_port()
    server = subprocess.Popen(
        ["iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    try:
        output = subprocess.run(
            [
                "iperf3",
                "-c",
                "127.0.0.1",
                "-p",
                str(port),
                "-t",
                str(seconds),
                "-P",
                str(streams),
                "-J",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 30,
        ).stdout
    finally:
        server.wait(timeout=30)
    return float(json.loads(output)["end"]["sum_received"]["bits_per_second"]) / 8


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="per load run")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="tagtrail's")
    parser.add_argument(
        "--history", default="1000,100000,1000000", help="record counts for history at scale"
    )
    parser.add_argument(
        "--auth",
        action="store_true",
        help="tagtrail with auth on: pulls carry a bearer token from its /token (Distribution"
        " runs without auth either way)",
    )
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="tagtrail-bench-") as scratch:
        work = Path(scratch)
        tagtrail = start_tagtrail(work / "tagtrail", args.workers, auth=args.auth)
        distribution = start_distribution(work / "distribution")
        servers = [tagtrail, distribution]
        rss = PeakRss(servers)
        rows: list[Row] = []
        try:
            small = build_image(work / "small", "v1", random_payload(900))  # a ~1 KB layer
            for server in servers:
                skopeo_push(small, server, "bench/small")
            held = {s.name: pushed(s, "bench/small", "v1") for s in servers}
            assert len({h.manifest_digest for h in held.values()}) == 1, held
            pushes: dict[str, list[float]] = {s.name: [] for s in servers}
            uploads: dict[str, list[float]] = {s.name: [] for s in servers}
            big = None
            # Each timed write starts with nothing dirty in the page cache: Distribution does
            # not fsync, and the kernel writing its last push back would otherwise land in the
            # middle of whichever push came next.
            for rep in range(args.repetitions):
                big = build_image(work / f"big{rep}", "v1", random_payload(100 * MB))
                for server in servers if rep % 2 == 0 else list(reversed(servers)):
                    os.sync()
                    pushes[server.name].append(skopeo_push(big, server, f"bench/big{rep}"))
            for rep in range(args.repetitions):
                raw = work / f"raw{rep}.bin"
                raw_digest = random_blob(raw, 100 * MB)
                for server in servers if rep % 2 == 0 else list(reversed(servers)):
                    os.sync()
                    uploads[server.name].append(
                        curl_upload(server, f"bench/raw{rep}", raw, raw_digest)
                    )
                raw.unlink()
            assert big is not None
            seconds, reps = args.seconds, args.repetitions
            loads: list[tuple[str, str, Callable[[Server], LoadResult]]] = [
                (
                    "GET /v2/",
                    "req/s",
                    lambda s: wrk(
                        f"{s.url}/v2/",
                        threads=2,
                        connections=64,
                        seconds=seconds,
                        headers=s.pull_headers("bench/small"),
                    ),
                ),
                (
                    "HEAD manifest by tag",
                    "req/s",
                    lambda s: ab(
                        f"{s.url}/v2/bench/small/manifests/v1",
                        method="HEAD",
                        connections=64,
                        seconds=seconds,
                        headers={**ACCEPT, **s.pull_headers("bench/small")},
                    ),
                ),
                (
                    "GET manifest by tag",
                    "req/s",
                    lambda s: wrk(
                        f"{s.url}/v2/bench/small/manifests/v1",
                        threads=2,
                        connections=64,
                        seconds=seconds,
                        headers={**ACCEPT, **s.pull_headers("bench/small")},
                    ),
                ),
                (
                    "GET manifest by digest",
                    "req/s",
                    lambda s: wrk(
                        f"{s.url}/v2/bench/small/manifests/{held[s.name].manifest_digest}",
                        threads=2,
                        connections=64,
                        seconds=seconds,
                        headers={**ACCEPT, **s.pull_headers("bench/small")},
                    ),
                ),
                (
                    "tags list",
                    "req/s",
                    lambda s: wrk(
                        f"{s.url}/v2/bench/small/tags/list",
                        threads=2,
                        connections=64,
                        seconds=seconds,
                        headers=s.pull_headers("bench/small"),
                    ),
                ),
                (
                    "GET 1 KB blob",
                    "req/s",
                    lambda s: wrk(
                        f"{s.url}/v2/bench/small/blobs/{held[s.name].layer_digest}",
                        threads=2,
                        connections=64,
                        seconds=seconds,
                        headers=s.pull_headers("bench/small"),
                    ),
                ),
            ]
            with rss.sampling():
                for label, unit, run in loads:
                    found = compare(servers, reps, run)
                    t, d = found["tagtrail"], found["distribution"]
                    rows.append(
                        Row(
                            label,
                            unit,
                            t.requests_per_second,
                            d.requests_per_second,
                            f"p50 {t.p50_ms:.2f}/{d.p50_ms:.2f} ms, "
                            f"p99 {t.p99_ms:.2f}/{d.p99_ms:.2f} ms"
                            + (f", errors {t.errors}/{d.errors}" if t.errors or d.errors else ""),
                        )
                    )
                    print(
                        f"{label}: tagtrail {t.requests_per_second:,.0f} req/s, "
                        f"distribution {d.requests_per_second:,.0f} req/s",
                        flush=True,
                    )
                found = compare(
                    servers,
                    reps,
                    lambda s: wrk(
                        f"{s.url}/v2/bench/big{reps - 1}/blobs/"
                        f"{pushed(s, f'bench/big{reps - 1}', 'v1').layer_digest}",
                        threads=2,
                        connections=4,
                        seconds=seconds,
                        headers=s.pull_headers(f"bench/big{reps - 1}"),
                    ),
                )
                rows.append(
                    Row(
                        "GET 100 MB blob, 4 connections",
                        "MB/s",
                        found["tagtrail"].bytes_per_second / MB,
                        found["distribution"].bytes_per_second / MB,
                    )
                )
            rows.append(_median_row("push 100 MB image (skopeo)", pushes))
            rows.append(_median_row("upload 100 MB blob (curl, one PATCH)", uploads))
            for label, peaks in (("RSS", rss.peaks), ("PSS", rss.pss)):
                rows.append(
                    Row(
                        f"peak {label} under load",
                        "MB",
                        peaks.get("tagtrail", 0) / MB,
                        peaks.get("distribution", 0) / MB,
                    )
                )

            # Ceilings of this machine.
            static = work / "static"
            static.mkdir()
            served = httpx.get(
                f"{tagtrail.url}/v2/bench/small/manifests/v1",
                headers={**ACCEPT, **tagtrail.basic},
            )
            (static / "manifest").write_bytes(served.content)
            ceiling = _ceiling(start_nginx(static, work / "nginx"), seconds, reps)
            asgi_ceiling = _ceiling(start_noop(static / "manifest", args.workers), seconds, reps)
            one_stream, four_streams = iperf(1, min(seconds, 5)), iperf(4, min(seconds, 5))
        finally:
            for server in servers:
                server.stop()

        history = [measure(work, int(n)) for n in args.history.split(",") if n]
        moving_ms, plain_ms = recording_cost(work)

    manifest_row = next(r for r in rows if r.label == "GET manifest by tag")
    blob_row = next(r for r in rows if r.label.startswith("GET 100 MB"))
    report = render(
        rows,
        history,
        moving_ms,
        plain_ms,
        nginx_rps=ceiling.requests_per_second,
        asgi_rps=asgi_ceiling.requests_per_second,
        manifest_rps=manifest_row.tagtrail,
        loopback=(one_stream / MB, four_streams / MB),
        blob_mbs=blob_row.tagtrail,
        args=args,
    )
    print(report)
    args.output.write_text(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
