"""tagtrail side by side with CNCF Distribution: same machine, same run, same content, same load.

Run with ``bench/run`` (see bench/README.md). Prints one table and writes bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
from bench.history_scale import HistoryResult, measure, recording_cost
from bench.loadgen import LoadResult, ab, wrk
from bench.servers import Server, free_port, start_distribution, start_nginx, start_tagtrail
from bench.upload import curl_upload, random_blob

MB = 1024 * 1024
ACCEPT = {"Accept": OCI_MANIFEST}


@dataclass
class Row:
    label: str
    unit: str
    tagtrail: float
    distribution: float
    extra: str = ""

    @property
    def ratio(self) -> float:
        """tagtrail / Distribution (for times and memory, lower is better)."""
        return self.tagtrail / self.distribution if self.distribution else float("nan")


@dataclass
class PeakRss:
    servers: list[Server]
    peaks: dict[str, int] = field(default_factory=dict)

    @contextmanager
    def sampling(self) -> Iterator[None]:
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.25):
                for server in self.servers:
                    rss = server.rss_bytes()
                    self.peaks[server.name] = max(self.peaks.get(server.name, 0), rss)

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
    answer = httpx.get(f"{server.url}/v2/{repository}/manifests/{tag}", headers=ACCEPT, timeout=30)
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


def versions() -> dict[str, str]:
    def first_line(*command: str) -> str:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=30)
        except OSError:
            return "missing"
        return (
            (done.stdout or done.stderr).strip().splitlines()[0]
            if (done.stdout or done.stderr)
            else ""
        )

    from importlib.metadata import version

    return {
        "tagtrail": version("tagtrail"),
        "granian": version("granian"),
        "starlette": version("starlette"),
        "python": platform.python_version(),
        "distribution": first_line("docker-registry", "--version"),
        "nginx": first_line("nginx", "-v"),
        "wrk": first_line("wrk", "--version"),
        "ab": first_line("ab", "-V"),
        "iperf3": first_line("iperf3", "--version"),
        "skopeo": first_line("skopeo", "--version"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="per load run")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="tagtrail's")
    parser.add_argument(
        "--history", default="1000,100000,1000000", help="record counts for history at scale"
    )
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="tagtrail-bench-") as scratch:
        work = Path(scratch)
        tagtrail = start_tagtrail(work / "tagtrail", args.workers)
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
                        f"{s.url}/v2/", threads=2, connections=64, seconds=seconds, headers={}
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
                        headers=ACCEPT,
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
                        headers=ACCEPT,
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
                        headers=ACCEPT,
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
                        headers={},
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
                        headers={},
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
                        headers={},
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
            rows.append(
                Row(
                    "peak RSS under load",
                    "MB",
                    rss.peaks.get("tagtrail", 0) / MB,
                    rss.peaks.get("distribution", 0) / MB,
                )
            )

            # Ceilings of this machine.
            static = work / "static"
            static.mkdir()
            served = httpx.get(f"{tagtrail.url}/v2/bench/small/manifests/v1", headers=ACCEPT)
            (static / "manifest").write_bytes(served.content)
            nginx = start_nginx(static, work / "nginx")
            try:
                ceiling = _median_load(
                    [
                        wrk(
                            f"{nginx.url}/manifest",
                            threads=2,
                            connections=64,
                            seconds=seconds,
                            headers={},
                        )
                        for _ in range(reps)
                    ]
                )
            finally:
                nginx.stop()
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
        manifest_rps=manifest_row.tagtrail,
        loopback=(one_stream / MB, four_streams / MB),
        blob_mbs=blob_row.tagtrail,
        args=args,
    )
    print(report)
    args.output.write_text(report)
    return 0


def render(
    rows: list[Row],
    history: list[HistoryResult],
    moving_ms: float,
    plain_ms: float,
    *,
    nginx_rps: float,
    manifest_rps: float,
    loopback: tuple[float, float],
    blob_mbs: float,
    args: argparse.Namespace,
) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Command: `bench/run --seconds {args.seconds} --repetitions {args.repetitions}"
        f" --workers {args.workers}` (medians of {args.repetitions} runs; wrk -t2 -c64 for GET,"
        " ab -k -c64 for HEAD, wrk -t2 -c4 for the 100 MB blob).",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}; "
        f"run on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()),
        "",
        "| measure | unit | tagtrail | Distribution | tagtrail / Distribution"
        " | latency (tagtrail/Distribution) |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row.label} | {row.unit} | {row.tagtrail:,.2f} | {row.distribution:,.2f} | "
            f"{row.ratio:.2f}x | {row.extra} |"
        )
    lines += [
        "",
        "## Ceilings of this machine",
        "",
        f"- nginx serving the same manifest bytes as a static file: {nginx_rps:,.0f} req/s;"
        f" tagtrail's GET manifest by tag is {manifest_rps / nginx_rps:.1%} of it.",
        f"- Loopback bandwidth (iperf3): {loopback[0]:,.0f} MB/s on one stream,"
        f" {loopback[1]:,.0f} MB/s on four; tagtrail's 100 MB blob GET is"
        f" {blob_mbs / loopback[1]:.1%} of four streams.",
        "",
        "## History at scale (SQLite, one tag)",
        "",
        "| records | window of 100: p50 | p99 | last page (1000): p50 | p99 |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for h in history:
        lines.append(
            f"| {h.records:,} | {h.window_p50_ms:.2f} ms | {h.window_p99_ms:.2f} ms |"
            f" {h.last_page_p50_ms:.2f} ms | {h.last_page_p99_ms:.2f} ms |"
        )
    lines += [
        "",
        f"Recording history on a manifest PUT: {moving_ms:.2f} ms median for a PUT by tag that"
        f" moves the tag (one history record) against {plain_ms:.2f} ms for a PUT by digest"
        f" (none): {moving_ms / plain_ms - 1:+.1%}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
