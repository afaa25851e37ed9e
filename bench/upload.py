"""The server's side of a push alone: one blob uploaded by curl in a single PATCH.

A skopeo push spends most of its time in skopeo (it hashes and sends the layer itself: about
0.4 s of its own CPU for 100 MB here), so it says little about how fast a registry takes an
upload in. curl sends the same bytes with next to no work of its own.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import httpx

from bench.servers import Server


def random_blob(path: Path, size: int) -> str:
    """Write ``size`` random bytes to ``path``; their digest."""
    data = os.urandom(size)
    path.write_bytes(data)
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _absolute(server: Server, location: str) -> str:
    return server.url + location if location.startswith("/") else location


def curl_upload(server: Server, repository: str, blob: Path, digest: str) -> float:
    """Seconds for POST, one streamed PATCH of the whole blob, and the closing PUT."""
    began = time.perf_counter()
    started = httpx.post(
        f"{server.url}/v2/{repository}/blobs/uploads/", headers=server.basic, timeout=30
    )
    started.raise_for_status()
    patch = subprocess.run(
        [
            "curl",
            "--silent",
            "--show-error",
            "--fail",
            "--output",
            "/dev/null",
            "--request",
            "PATCH",
            "--header",
            "Content-Type: application/octet-stream",
            *(arg for k, v in server.basic.items() for arg in ("--header", f"{k}: {v}")),
            "--upload-file",
            str(blob),
            "--dump-header",
            "-",
            _absolute(server, started.headers["location"]),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    location = next(
        line.split(":", 1)[1].strip()
        for line in patch.stdout.splitlines()
        if line.lower().startswith("location:")
    )
    # The Location may carry state of its own (Distribution's ``_state``): add to its query.
    separator = "&" if "?" in location else "?"
    closed = httpx.put(
        f"{_absolute(server, location)}{separator}digest={quote(digest)}",
        headers=server.basic,
        timeout=60,
    )
    closed.raise_for_status()
    return time.perf_counter() - began
