"""History at scale: window queries and the last page with 1,000 to 1,000,000 records on one
tag, and what recording history adds to a manifest PUT. tagtrail only (Distribution keeps no
history). Records are written straight into the SQLite database of a fresh data directory."""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.servers import start_tagtrail

REPO, TAG = "bench/history", "latest"
BASE_MS = 1_700_000_000_000


@dataclass(frozen=True)
class HistoryResult:
    records: int
    window_p50_ms: float
    window_p99_ms: float
    last_page_p50_ms: float
    last_page_p99_ms: float


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _fill(data: Path, records: int) -> None:
    """Create the schema (a server start), then write ``records`` moves of one tag."""
    server = start_tagtrail(data, workers=1)
    server.stop()
    connection = sqlite3.connect(data / "tagtrail.db")
    with connection:
        connection.execute("INSERT INTO repositories (name, created_ms) VALUES (?, ?)", (REPO, 1))
        repo_id = connection.execute("SELECT id FROM repositories").fetchone()[0]
        rows = (
            (repo_id, TAG, BASE_MS + n * 1000, f"sha256:{n:064x}", "created", "x", 1)
            for n in range(records)
        )
        connection.executemany(
            "INSERT INTO tag_history (repository_id, tag, ts_ms, digest, event, media_type,"
            " size) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    connection.close()


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def measure(work: Path, records: int, samples: int = 300) -> HistoryResult:
    data = work / f"history-{records}"
    _fill(data, records)
    server = start_tagtrail(data, workers=1)
    path = f"/v2/{REPO}/_chainguard/history/{TAG}"
    window: list[float] = []
    last: list[float] = []
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for _ in range(20):  # warm up
                http.get(path, params={"start": _iso(BASE_MS), "end": _iso(BASE_MS + 99_000)})
            for _ in range(samples):
                first = random.randrange(0, max(1, records - 100))
                params = {
                    "start": _iso(BASE_MS + first * 1000),
                    "end": _iso(BASE_MS + (first + 99) * 1000),
                }
                began = time.perf_counter()
                answer = http.get(path, params=params)
                window.append((time.perf_counter() - began) * 1000)
                assert len(answer.json()["history"]) == min(100, records)
            last_start = {"start": _iso(BASE_MS + max(0, records - 1000) * 1000)}
            for _ in range(samples // 3):
                began = time.perf_counter()
                answer = http.get(path, params=last_start)
                last.append((time.perf_counter() - began) * 1000)
                assert "link" not in answer.headers
    finally:
        server.stop()
    return HistoryResult(
        records,
        statistics.median(window),
        _percentile(window, 0.99),
        statistics.median(last),
        _percentile(last, 0.99),
    )


def recording_cost(work: Path, puts: int = 300) -> tuple[float, float]:
    """Median ms of a manifest PUT that moves a tag (records history) and of one by digest."""
    server = start_tagtrail(work / "recording", workers=1)
    config = b"{}"
    config_digest = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    moving: list[float] = []
    plain: list[float] = []
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            http.post(
                "/v2/bench/rec/blobs/uploads/", params={"digest": config_digest}, content=config
            ).raise_for_status()
            for n in range(2 * puts + 40):
                body = json.dumps(
                    {
                        "schemaVersion": 2,
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "config": {"mediaType": "x", "digest": config_digest, "size": 2},
                        "layers": [],
                        "annotations": {"n": str(n)},
                    }
                ).encode()
                by_tag = n % 2 == 0
                reference = "latest" if by_tag else "sha256:" + hashlib.sha256(body).hexdigest()
                began = time.perf_counter()
                http.put(
                    f"/v2/bench/rec/manifests/{reference}",
                    content=body,
                    headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
                ).raise_for_status()
                if n >= 40:  # after warm-up
                    (moving if by_tag else plain).append((time.perf_counter() - began) * 1000)
    finally:
        server.stop()
    return statistics.median(moving), statistics.median(plain)
