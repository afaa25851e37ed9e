"""``tagtrail gc`` on a running server's storage: progress on a terminal only, sizes in
human units, a report on standard output that a pipe reads clean."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from tests.api.helpers import random_bytes, sha256
from tests.cli.helpers import tagtrail, tagtrail_on_a_terminal
from tests.reliability.test_gc import push_image
from tests.reliability.test_gc_orphans import blob_key, plant_file
from tests.server import RunningServer
from tests.ssl_context import SHARED


def server_with_garbage(start_registry: Callable[..., RunningServer]) -> tuple[Path, str]:
    """A server's data directory holding an image and old orphaned bytes (1234 of them)."""
    server = start_registry()
    with httpx.Client(base_url=server.url, timeout=30, verify=SHARED) as http:
        push_image(http, "progress/app", "latest")
    orphan = random_bytes(1234)
    plant_file(server.data_dir / blob_key(sha256(orphan)), orphan, old=True)
    return server.data_dir, sha256(orphan)


def report_lines(stdout: str, orphan: str) -> None:
    assert stdout.splitlines() == [
        f"would remove orphaned blob bytes {orphan} (1.2 kB)",
        "gc: 0 manifest, 0 blob, 0 blob bytes, 1 orphaned blob bytes, 0 expired uploads, "
        "0 orphaned uploads; would free 1.2 kB",
    ]


def test_without_a_terminal_only_the_report_is_printed(
    start_registry: Callable[..., RunningServer],
) -> None:
    data, orphan = server_with_garbage(start_registry)
    done = tagtrail("gc", "--dry-run", "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    report_lines(done.stdout, orphan)


def test_on_a_terminal_progress_goes_to_it_and_the_report_stays_clean(
    start_registry: Callable[..., RunningServer],
) -> None:
    data, orphan = server_with_garbage(start_registry)
    code, shown, stdout = tagtrail_on_a_terminal("gc", "--dry-run", "--data-dir", str(data))
    assert code == 0, shown
    for phase in ("repositories", "unlinked blobs", "expired uploads", "stored blobs"):
        assert f"gc: {phase}" in shown, shown
    report_lines(stdout, orphan)
