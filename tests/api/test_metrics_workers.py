"""``/metrics`` of a real server with two workers, logging in plain text: the numbers are the
sum over the workers, an upload in flight shows whichever worker answers the scrape, and the
directory of the workers' metric files is the server's own, gone when it stops."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tagtrail.api.metrics import FLUSH_SECONDS
from tests.api.helpers import push_blob, random_bytes, repo
from tests.api.test_metrics import parse, requests, value
from tests.server import RunningServer, start_server

TEXT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (?P<level>\w+) tagtrail\.access: "
    r"(?P<message>\S+ \S+ \d{3}) (?P<fields>.*)$"
)


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("workers") / "data"
    server = start_server(data, "--workers", "2", env={"TAGTRAIL_LOG_FORMAT": "text"})
    try:
        yield server
    finally:
        server.stop()


def access_lines(server: RunningServer, path: str) -> list[dict[str, str]]:
    """The fields of the text access lines of requests to ``path``."""
    found = []
    for line in server.log().splitlines():
        match = TEXT_LINE.match(line)
        if match and f" path={path} " in f" {match['fields']} ":
            fields = dict(part.split("=", 1) for part in match["fields"].split(" "))
            found.append({"level": match["level"], "message": match["message"], **fields})
    return found


def test_counts_are_the_sum_over_workers(two_workers: RunningServer) -> None:
    """Requests on new connections until both workers answered some: /metrics counts them
    all, whichever worker answers the scrape."""
    path = f"/v2/{repo('workers')}/manifests/missing"
    sent = 0

    def head(_: int) -> int:
        return httpx.head(f"{two_workers.url}{path}", timeout=10).status_code

    deadline = time.monotonic() + 30
    with ThreadPoolExecutor(8) as pool:
        while True:
            assert set(pool.map(head, range(16))) == {404}
            sent += 16
            workers = {line["worker"] for line in access_lines(two_workers, path)}
            if len(workers) == 2:
                break
            assert time.monotonic() < deadline, f"one worker answered all {sent} requests"
    # A worker adds its requests to the metrics files within FLUSH_SECONDS (api/metrics.py).
    deadline = time.monotonic() + FLUSH_SECONDS + 10
    while (counted := _scraped_heads(two_workers)) != sent:
        assert counted < sent, f"{counted} counted of {sent} sent"
        assert time.monotonic() < deadline, f"{counted} counted of {sent} sent"
        time.sleep(0.05)
    for _ in range(4):  # each scrape may reach either worker
        assert _scraped_heads(two_workers) == sent


def _scraped_heads(server: RunningServer) -> float:
    scraped = httpx.get(f"{server.url}/metrics", timeout=10)
    return requests(parse(scraped.text), "manifest", "HEAD", 404)


def test_the_text_log_line(two_workers: RunningServer) -> None:
    path = f"/v2/{repo('workers')}/manifests/latest"
    answered = httpx.get(f"{two_workers.url}{path}?secret=in-the-query", timeout=10)
    rid = answered.headers["x-request-id"]
    deadline = time.monotonic() + 10
    while not (lines := access_lines(two_workers, path)):
        assert time.monotonic() < deadline, two_workers.log()[-2000:]
        time.sleep(0.02)
    (line,) = lines
    assert line["level"] == "info" and line["message"] == f"GET {path} 404"
    assert line["request_id"] == rid and line["route"] == "manifest"
    assert line["status"] == "404" and line["bytes_in"] == "0"
    assert int(line["bytes_out"]) == len(answered.content) and line["user"] == "-"
    assert line["client"] == "127.0.0.1" and float(line["duration_ms"]) >= 0
    assert "in-the-query" not in two_workers.log()


def test_an_upload_in_flight_is_in_progress(two_workers: RunningServer) -> None:
    name = repo("workers")
    started = httpx.post(f"{two_workers.url}/v2/{name}/blobs/uploads/", timeout=10)
    assert started.status_code == 202
    location = started.headers["location"]
    seen: list[float] = []

    def gauge() -> float:
        scraped = httpx.get(f"{two_workers.url}/metrics", timeout=10)
        return value(parse(scraped.text), "tagtrail_uploads_in_progress")

    def body() -> Iterator[bytes]:
        yield b"x" * 1024
        deadline = time.monotonic() + 10
        while gauge() != 1:
            assert time.monotonic() < deadline, "the upload never showed as in progress"
            time.sleep(0.02)
        seen.append(gauge())
        yield b"y" * 1024

    url = location if location.startswith("http") else f"{two_workers.url}{location}"
    patched = httpx.patch(url, content=body(), timeout=30)
    assert patched.status_code == 202, patched.text
    assert seen == [1]
    assert gauge() == 0


def test_the_metrics_directory_goes_with_the_server(tmp_path: Path) -> None:
    """Each start has a fresh directory of its own (found by its worker's files), removed
    when the server stops; a start removes those of servers killed before they could."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        pytest.skip("no /dev/shm: the directory is in the temporary directory")
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    killed = shm / f"tagtrail-metrics-{int(gone.stdout)}-{uuid.uuid4().hex[:8]}"
    living = shm / f"tagtrail-metrics-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    for planted in (killed, living):
        planted.mkdir()
        (planted / "counter_1.db").write_bytes(b"")
    try:
        server = start_server(tmp_path / "data")
    except BaseException:
        shutil.rmtree(living, ignore_errors=True)
        raise
    try:
        assert not killed.exists()
        assert living.exists()
        answered = httpx.get(f"{server.url}/v2/", timeout=10)
        worker = _worker_of(server, answered.headers["x-request-id"])
        # The worker writes its first values within FLUSH_SECONDS (api/metrics.py).
        deadline = time.monotonic() + FLUSH_SECONDS + 10
        while not (found := set(shm.glob(f"tagtrail-metrics-*/counter_{worker}.db"))):
            assert time.monotonic() < deadline, "the worker wrote no metrics file"
            time.sleep(0.05)
        (mine,) = {path.parent for path in found}
    finally:
        server.stop()
        shutil.rmtree(living, ignore_errors=True)
    assert not mine.exists()


def _worker_of(server: RunningServer, rid: str) -> int:
    """The worker that answered request ``rid``, from its JSON access line."""
    deadline = time.monotonic() + 10
    while True:
        for text in server.log().splitlines():
            if rid in text and text.startswith("{"):
                worker: int = json.loads(text)["worker"]
                return worker
        assert time.monotonic() < deadline, "no access line"
        time.sleep(0.02)


def test_a_blob_sent_from_its_file_is_counted(two_workers: RunningServer) -> None:
    """A blob above the memory cache's size goes out by ASGI pathsend (the server reads the
    file): its bytes are counted from the length announced."""
    name = repo("workers")
    data = random_bytes(100 * 1024)
    with httpx.Client(base_url=two_workers.url, timeout=30) as http:
        digest = push_blob(http, name, data)

        def sent() -> float:
            samples = parse(http.get("/metrics").text)
            return value(samples, "tagtrail_http_response_bytes_total", route="blob")

        before = sent()
        assert http.get(f"/v2/{name}/blobs/{digest}").content == data
        assert sent() - before == len(data)
