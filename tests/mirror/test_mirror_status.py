"""The mirrors' status and the watch lease, seen from outside: credentials an authenticated
upstream refuses show in ``mirror list`` and in one log line; two replicas on PostgreSQL and
one S3 bucket run each round of a watch once between them (counted at the upstream)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from tests.auth.cli import admin, admin_cli
from tests.mirror.faults import fault_proxy
from tests.mirror.upstreams import Distribution, push_image
from tests.mirror.watching import fresh_repository, history, mirroring_server, poll
from tests.postgres import fresh_database
from tests.s3 import S3Endpoint
from tests.server import RunningServer, start_server

WRONG = "not-the-upstream-password-5d1e"


def test_rejected_credentials_show_in_the_list_and_are_logged_once(
    tmp_path: Path, auth_upstream: RunningServer
) -> None:
    data = tmp_path / "data"
    with fault_proxy(auth_upstream.url) as proxy:
        server = mirroring_server(data, proxy.url, prefix="up", credentials=("admin", WRONG))
        try:
            admin(data, "mirror", "watch", "up/up/app", "--interval", "1s")
            poll("the status", lambda: "credentials rejected" in admin(data, "mirror", "list"))
            pings = _count(proxy.seen, "GET", "/v2/")
            # Three more checks (every second) change nothing, so log nothing.
            poll("three more checks", lambda: _count(proxy.seen, "GET", "/v2/") >= pings + 3)
            listed = admin(data, "mirror", "list")
            log = server.log()
        finally:
            server.stop()
    assert listed.splitlines()[0].endswith("  credentials rejected"), listed
    refused = [line for line in log.splitlines() if "refused the credentials" in line]
    assert len(refused) == 1, log
    assert f"mirror up: {proxy.url} refused the credentials" in refused[0]
    assert WRONG not in log and WRONG not in listed
    # The watch waits for accepted credentials: at most the one round that found out.
    assert _count(proxy.seen, "GET", "/v2/up/app/tags/list") <= 1


def test_two_replicas_run_each_round_of_a_watch_once(
    tmp_path: Path,
    distribution: Distribution,
    distribution_http: httpx.Client,
    s3: S3Endpoint,
) -> None:
    repo = fresh_repository()
    local = f"dist/{repo}"
    images = {tag: push_image(distribution_http, repo, tag) for tag in ("a", "b", "c")}
    with fresh_database() as url, fault_proxy(distribution.url) as proxy:
        env = {
            "TAGTRAIL_DATABASE_URL": url,
            "TAGTRAIL_BLOB_STORE": "s3",
            "TAGTRAIL_S3": json.dumps(s3.settings(s3.new_bucket())),
        }
        replicas = [mirroring_server(tmp_path / "r0", proxy.url, env=env)]
        try:
            replicas.append(start_server(tmp_path / "r1", env=env))
            admin_cli(tmp_path / "r0", "mirror", "watch", local, "--interval", "1s", env=env)
            started = time.monotonic()
            poll("four rounds", lambda: _rounds(proxy.seen, repo) >= 4, timeout=60)
            seen = list(proxy.seen)
            elapsed = time.monotonic() - started
            # Each tag recorded once, and served by either replica (one bucket).
            for replica in replicas:
                for tag, image in images.items():
                    assert [r["digest"] for r in history(replica, local, tag)] == [image.digest]
        finally:
            for replica in replicas:
                replica.stop()
    requests = [(m, p) for m, p in seen if p.startswith(f"/v2/{repo}/")]
    rounds: list[list[str]] = []
    for method, path in requests:
        if path == f"/v2/{repo}/tags/list":
            rounds.append([])
        elif method == "HEAD" and rounds:
            rounds[-1].append(path.rsplit("/", 1)[1])
    # Every finished round HEADed each tag once: no two rounds ran at once...
    assert all(sorted(heads) == ["a", "b", "c"] for heads in rounds[:-1]), rounds
    # ...nor one after the other for one due time: rounds start at least 1 s apart.
    assert len(rounds) <= elapsed + 1, (len(rounds), elapsed)


def _count(seen: list[tuple[str, str]], method: str, path: str) -> int:
    return sum(1 for m, p in list(seen) if (m, p) == (method, path))


def _rounds(seen: list[tuple[str, str]], repo: str) -> int:
    return _count(seen, "GET", f"/v2/{repo}/tags/list")
