"""The benchmark's report: the table of rows, the machine's ceilings and the versions run."""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
from dataclasses import dataclass

from bench.history_scale import HistoryResult


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


def render(
    rows: list[Row],
    history: list[HistoryResult],
    moving_ms: float,
    plain_ms: float,
    *,
    nginx_rps: float,
    asgi_rps: float,
    manifest_rps: float,
    loopback: tuple[float, float],
    blob_mbs: float,
    args: argparse.Namespace,
) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Command: `bench/run --seconds {args.seconds} --repetitions {args.repetitions}"
        f" --workers {args.workers}{' --auth' if args.auth else ''}` (medians of"
        f" {args.repetitions} runs; wrk -t2 -c64 for GET,"
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
        f"- granian answering the same bytes from a do-nothing ASGI app (bench/noop_app.py, the"
        f" same workers and loop as tagtrail's): {asgi_rps:,.0f} req/s, {asgi_rps / nginx_rps:.1%}"
        f" of nginx; tagtrail's GET manifest by tag is {manifest_rps / asgi_rps:.1%} of it.",
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
