"""Tag history of images pushed with skopeo: the Chainguard-compatible history endpoint lists
every digest a tag has pointed to, with start/end bounds, and every one stays pullable."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.helpers import (
    ACCEPT_ALL,
    Skopeo,
    build_image,
    layer_files,
    layout_blob,
    layout_manifest_digest,
    sha256_digest,
)
from tests.server import RunningServer
from tests.ssl_context import SHARED

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def history(http: httpx.Client, **bounds: str) -> list[dict[str, Any]]:
    got = http.get("/v2/histrepo/_chainguard/history/latest", params=bounds)
    assert got.status_code == 200, (bounds, got.status_code, got.text)
    assert got.headers["content-type"].startswith("application/json")
    records: list[dict[str, Any]] = got.json()["history"]
    return records


def as_offset(timestamp: str, hours: int) -> str:
    """The same instant written with another UTC offset (ISO 8601 +HH:MM)."""
    moment = datetime.fromisoformat(timestamp).astimezone(timezone(timedelta(hours=hours)))
    return moment.isoformat(timespec="milliseconds")


def test_history_of_skopeo_pushes(
    start_registry: Callable[..., RunningServer], skopeo: Skopeo, tmp_path: Path
) -> None:
    registry = start_registry()  # its own registry, so the repository is plainly "histrepo"
    ref = f"docker://{registry.host}/histrepo"
    layout = tmp_path / "builds"
    contents = [f"build {n}\n".encode() for n in range(3)]
    digests: list[str] = []
    with httpx.Client(base_url=registry.url, timeout=30, verify=SHARED) as http:
        for n, content in enumerate(contents):
            built = build_image(layout, f"build{n}", {"build.txt": content})
            skopeo.copy(f"oci:{layout}:build{n}", f"{ref}:latest")
            head = http.head("/v2/histrepo/manifests/latest", headers={"Accept": ACCEPT_ALL})
            assert head.status_code == 200
            assert head.headers["docker-content-digest"] == built.digest
            assert skopeo.digest(f"{ref}:latest") == built.digest
            digests.append(built.digest)
        assert len(set(digests)) == 3

        records = history(http)
        assert [r["digest"] for r in records] == digests
        assert all(set(r) == {"updateTimestamp", "digest"} for r in records), records
        stamps = [r["updateTimestamp"] for r in records]
        assert all(TIMESTAMP.fullmatch(s) for s in stamps), stamps
        moments = [datetime.fromisoformat(s) for s in stamps]
        assert moments == sorted(moments)
        assert len(set(moments)) == 3, "timestamps must strictly increase"

        # Bounds are inclusive, and may be written with any UTC offset.
        first, middle, last = stamps
        assert history(http, start=middle) == records[1:]
        assert history(http, end=middle) == records[:2]
        assert history(http, start=middle, end=middle) == records[1:2]
        assert history(http, start=first, end=last) == records
        assert history(http, start=as_offset(middle, 2)) == records[1:]
        assert history(http, end=as_offset(middle, -5)) == records[:2]
        after_last = (moments[2] + timedelta(milliseconds=1)).isoformat()
        assert history(http, start=after_last) == []
        # Finer than the millisecond records: a bound keeps exactly the records it covers.
        half = timedelta(microseconds=500)
        assert history(http, start=(moments[1] + half).isoformat()) == records[2:]
        assert history(http, end=(moments[1] + half).isoformat()) == records[:2]
        assert history(http, end=(moments[1] - half).isoformat()) == records[:1]

        # Every digest the tag ever named is still served, byte for byte.
        for digest in digests:
            got = http.get(f"/v2/histrepo/manifests/{digest}", headers={"Accept": ACCEPT_ALL})
            assert got.status_code == 200, (digest, got.text)
            assert sha256_digest(got.content) == digest

    # And skopeo can copy the oldest build out by digest.
    out = tmp_path / "restored"
    skopeo.copy(f"{ref}@{digests[0]}", f"oci:{out}:oldest")
    assert layout_manifest_digest(out, "oldest") == digests[0]
    manifest = json.loads(layout_blob(out, digests[0]))
    layer = layout_blob(out, manifest["layers"][0]["digest"])
    assert layer_files(layer) == {"build.txt": contents[0]}


def test_moving_back_and_protected_history(
    start_registry: Callable[..., RunningServer], skopeo: Skopeo, tmp_path: Path
) -> None:
    """A tag moved back to an earlier digest is a new entry; with --protect-history,
    ``skopeo delete`` of any digest the history names is refused and nothing is lost."""
    registry = start_registry("--protect-history")
    ref = f"docker://{registry.host}/histrepo"
    layout = tmp_path / "builds"
    one = build_image(layout, "one", {"f.txt": b"one\n"})
    two = build_image(layout, "two", {"f.txt": b"two\n"})
    for tag in ("one", "two", "one"):
        skopeo.copy(f"oci:{layout}:{tag}", f"{ref}:latest")

    with httpx.Client(base_url=registry.url, timeout=30, verify=SHARED) as http:
        expected = [one.digest, two.digest, one.digest]
        assert [r["digest"] for r in history(http)] == expected

        for target in (f"{ref}@{two.digest}", f"{ref}:latest"):
            refused = skopeo("delete", "--tls-verify=false", target, check=False)
            assert refused.returncode != 0, target
            assert "UNSUPPORTED" in refused.stderr, refused.stderr
            assert "405" in refused.stderr, refused.stderr

        assert [r["digest"] for r in history(http)] == expected
        for digest in (one.digest, two.digest):
            got = http.get(f"/v2/histrepo/manifests/{digest}", headers={"Accept": ACCEPT_ALL})
            assert got.status_code == 200
    assert skopeo.digest(f"{ref}:latest") == one.digest
