"""Several replicas on one PostgreSQL and one S3 endpoint act as one registry."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import time
from collections.abc import Callable
from datetime import datetime

import httpx

from tagtrail.types import OCI_MANIFEST
from tests.server import RunningServer
from tests.ssl_context import SHARED

MiB = 1024 * 1024
ADMIN = ("admin", "admin-secret-for-tests")


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_upload_begun_on_one_replica_completes_on_another(
    replica: Callable[..., RunningServer],
) -> None:
    a, b = replica(), replica()
    data = bytes(range(256)) * (7 * MiB // 256) + b"end"
    first, second = data[: 3 * MiB], data[3 * MiB :]
    with httpx.Client(timeout=60, verify=SHARED) as http:
        started = http.post(f"{a.url}/v2/multi/blob/blobs/uploads/")
        assert started.status_code == 202
        location = started.headers["location"]
        patched = http.patch(f"{a.url}{location}", content=first)
        assert patched.status_code == 202
        # The rest, with Content-Range, through the other replica, which also completes it.
        continued = http.patch(
            f"{b.url}{patched.headers['location']}",
            content=second,
            headers={"Content-Range": f"{len(first)}-{len(data) - 1}"},
        )
        assert continued.status_code == 202, continued.text
        assert continued.headers["range"] == f"0-{len(data) - 1}"
        done = http.put(f"{b.url}{continued.headers['location']}", params={"digest": digest(data)})
        assert done.status_code == 201, done.text
        pulled = http.get(f"{a.url}/v2/multi/blob/blobs/{digest(data)}", follow_redirects=True)
        assert pulled.status_code == 200
        assert pulled.content == data


def test_token_issued_by_one_replica_is_accepted_by_another(
    replica: Callable[..., RunningServer],
) -> None:
    a, b = replica("--auth"), replica("--auth")
    with httpx.Client(timeout=30, verify=SHARED) as http:
        token = http.get(
            f"{a.url}/token",
            params={"scope": "repository:shared/app:pull,push"},
            auth=ADMIN,
        ).json()["token"]
        config = b"{}"
        pushed = http.post(
            f"{b.url}/v2/shared/app/blobs/uploads/",
            params={"digest": digest(config)},
            content=config,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert pushed.status_code == 201, pushed.text
        unauthenticated = http.head(f"{b.url}/v2/shared/app/blobs/{digest(config)}")
        assert unauthenticated.status_code == 401


def _manifest(config: bytes, n: int) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.test", "digest": digest(config), "size": 2},
            "layers": [],
            "annotations": {"build": str(n)},
        }
    ).encode()


async def _push_all(urls: list[str], bodies: list[bytes]) -> list[str]:
    """PUT every manifest to :latest, alternating replicas; the digests acknowledged (201)."""
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(timeout=120, limits=limits, verify=SHARED) as http:

        async def push(n: int, body: bytes) -> str | None:
            answer = await http.put(
                f"{urls[n % len(urls)]}/v2/race/app/manifests/latest",
                content=body,
                headers={"Content-Type": OCI_MANIFEST},
            )
            return answer.headers["docker-content-digest"] if answer.status_code == 201 else None

        results = await asyncio.gather(*(push(n, body) for n, body in enumerate(bodies)))
    return [d for d in results if d is not None]


def test_concurrent_moves_through_replicas_with_skewed_clocks_form_one_history(
    replica: Callable[..., RunningServer],
) -> None:
    # Replica b runs 10 minutes behind: ordering must not trust either process's clock. (Not
    # more: S3 refuses requests signed over 15 minutes off, RequestTimeTooSkewed.)
    a, b = replica(), replica(prefix=("faketime", "-f", "-10m"))
    config = b"{}"
    with httpx.Client(timeout=30, verify=SHARED) as http:
        stored = http.post(
            f"{a.url}/v2/race/app/blobs/uploads/", params={"digest": digest(config)}, content=config
        )
        assert stored.status_code == 201
        began = time.time()
        # A first move through the skewed replica alone: its stamp is the database's time.
        first = http.put(
            f"{b.url}/v2/race/app/manifests/latest",
            content=_manifest(config, -1),
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert first.status_code == 201
    bodies = [_manifest(config, n) for n in range(200)]
    acknowledged = asyncio.run(_push_all([a.url, b.url], bodies))
    ended = time.time()
    assert len(acknowledged) == 200
    acknowledged.insert(0, first.headers["docker-content-digest"])

    with httpx.Client(timeout=30, verify=SHARED) as http:
        history = http.get(f"{b.url}/v2/race/app/_chainguard/history/latest").json()["history"]
        current = http.head(f"{a.url}/v2/race/app/manifests/latest")
    digests = [record["digest"] for record in history]
    stamps = [datetime.fromisoformat(record["updateTimestamp"]).timestamp() for record in history]
    assert digests[0] == acknowledged[0]
    assert sorted(digests) == sorted(acknowledged)
    assert len(set(digests)) == 201
    assert all(x < y for x, y in itertools.pairwise(stamps))
    assert current.headers["docker-content-digest"] == digests[-1]
    # Stamped by the database's clock: none is 10 minutes off, as replica b's clock is.
    assert began - 5 <= stamps[0] and stamps[-1] <= ended + 5
