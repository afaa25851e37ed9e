"""Pull-through against a real server, a real Distribution and the fault proxy between them:
tags asked at most once per interval and followed after it, blobs streamed while stored,
content verified, held content served while the upstream is down, one fetch per blob."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import httpx
import pytest

from tagtrail.auth.keys import write_new_key
from tests.auth.cli import admin_cli
from tests.mirror.faults import Fault, fault_proxy
from tests.mirror.mirror_server import PullThrough, poll, pull_through, repository
from tests.mirror.upstreams import Distribution, push_blob, push_image, sha256
from tests.postgres import fresh_database
from tests.s3 import S3Endpoint
from tests.server import start_server

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ORIGIN = "dev.tagtrail.origin"


@pytest.fixture(scope="module")
def mirror(
    tmp_path_factory: pytest.TempPathFactory, distribution: Distribution
) -> Iterator[PullThrough]:
    data = tmp_path_factory.mktemp("pull-through") / "data"
    with pull_through(data, distribution) as running:
        yield running


@pytest.fixture(autouse=True)
def clean_proxy(mirror: PullThrough) -> Iterator[None]:
    mirror.proxy.clear()
    yield
    mirror.proxy.clear()


def _digest_of(http: httpx.Client, path: str) -> str:
    response = http.get(path)
    assert response.status_code == 200, response.text
    return str(response.headers["docker-content-digest"])


def test_pull_by_tag_asks_once_an_interval_and_follows_the_upstream(mirror: PullThrough) -> None:
    repo = repository()
    with mirror.upstream() as upstream, mirror.client() as http:
        first = push_image(upstream, repo, "v1")
        started = time.monotonic()
        manifest = http.get(f"/v2/dist/{repo}/manifests/v1")
        assert manifest.status_code == 200, manifest.text
        assert manifest.content == first.manifest
        assert manifest.headers["docker-content-digest"] == first.digest
        assert "warning" not in manifest.headers
        for _ in range(3):  # within the interval: served here, the upstream not asked
            assert http.head(f"/v2/dist/{repo}/manifests/v1").status_code == 200
        assert mirror.requests("HEAD", f"/{repo}/manifests/v1") == 1
        layer = first.layers[0]
        pulled = http.get(f"/v2/dist/{repo}/blobs/{sha256(layer)}")
        assert (pulled.status_code, pulled.content) == (200, layer)
        assert pulled.headers["content-length"] == str(len(layer))
        assert http.get(f"/v2/dist/{repo}/blobs/{sha256(layer)}").content == layer
        assert mirror.requests("GET", f"/blobs/{sha256(layer)}") == 1  # then held here

        moved = push_image(upstream, repo, "v1")
        if time.monotonic() - started < mirror.interval_s - 1:  # surely within the interval
            assert _digest_of(http, f"/v2/dist/{repo}/manifests/v1") == first.digest
        poll(
            lambda: _digest_of(http, f"/v2/dist/{repo}/manifests/v1") == moved.digest,
            "the move upstream served after the interval",
        )
        history = http.get(f"/v2/dist/{repo}/_oci/tag-history/v1").json()["manifests"]
        assert [(h["digest"], h["annotations"].get(ORIGIN)) for h in history] == [
            (moved.digest, "mirror"),  # newest first, the move after the interval
            (first.digest, "mirror"),
        ]
        assert "dev.tagtrail.moved-after" in history[0]["annotations"]

        # The upstream deletes the manifest: what tagtrail holds by digest still pulls.
        deleted = upstream.delete(f"/v2/{repo}/manifests/{moved.digest}")
        assert deleted.status_code == 202, deleted.text
        for digest, layers in ((moved.digest, moved.layers), (first.digest, first.layers)):
            held = http.get(f"/v2/dist/{repo}/manifests/{digest}")
            assert held.status_code == 200, held.text
            assert http.get(f"/v2/dist/{repo}/blobs/{sha256(layers[0])}").content == layers[0]


def test_pull_by_digest_is_fetched_once(mirror: PullThrough) -> None:
    repo = repository()
    with mirror.upstream() as upstream, mirror.client() as http:
        image = push_image(upstream, repo, "v1")
        for _ in range(3):
            pulled = http.get(f"/v2/dist/{repo}/manifests/{image.digest}")
            assert (pulled.status_code, pulled.content) == (200, image.manifest)
        assert mirror.requests("GET", f"/manifests/{image.digest}") == 1
        missing = http.get(f"/v2/dist/{repo}/manifests/sha256:{'0' * 64}")
        assert missing.status_code == 404
        assert missing.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
        unknown = http.get(f"/v2/dist/{repo}/manifests/nope")
        assert unknown.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
        absent = http.head(f"/v2/dist/{repo}/blobs/sha256:{'1' * 64}")
        assert absent.status_code == 404
        layer = image.layers[0]
        head = http.head(f"/v2/dist/{repo}/blobs/{sha256(layer)}")  # the upstream's HEAD
        assert (head.status_code, head.headers["content-length"]) == (200, str(len(layer)))
        assert mirror.requests("HEAD", f"/blobs/{sha256(layer)}") == 1
        assert mirror.requests("GET", f"/blobs/{sha256(layer)}") == 0


def test_a_burst_of_pulls_makes_one_upstream_request(mirror: PullThrough) -> None:
    """Concurrent first pulls of one tag share one check, of one digest one fetch."""
    repo = repository()
    with mirror.upstream() as upstream:
        image = push_image(upstream, repo, "v1")

    def pull(reference: str) -> str:
        with mirror.client() as http:
            return _digest_of(http, f"/v2/dist/{repo}/manifests/{reference}")

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(pull, ["v1"] * 8)) == {image.digest}
    assert mirror.requests("HEAD", f"/{repo}/manifests/v1") == 1
    with mirror.upstream() as upstream:
        other = push_image(upstream, repo, "v2")
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(pull, [other.digest] * 8)) == {other.digest}
    assert mirror.requests("GET", f"/{repo}/manifests/{other.digest}") == 1


def test_upstream_down_serves_what_is_held_with_a_warning(mirror: PullThrough) -> None:
    repo = repository()
    with mirror.upstream() as upstream, mirror.client() as http:
        image = push_image(upstream, repo, "v1", layers=2)
        assert _digest_of(http, f"/v2/dist/{repo}/manifests/v1") == image.digest
        held_layer, other_layer = image.layers
        assert http.get(f"/v2/dist/{repo}/blobs/{sha256(held_layer)}").content == held_layer
        mirror.proxy.add(Fault(r"/v2/", "status", status=503))

        def stale() -> bool:
            answer = http.get(f"/v2/dist/{repo}/manifests/v1")
            assert answer.status_code == 200, answer.text
            return "warning" in answer.headers

        poll(stale, "a warning once the interval passed")
        asked = mirror.requests("HEAD", f"/{repo}/manifests/v1")
        for _ in range(3):  # a failed upstream is not asked again within the interval
            assert "warning" in http.head(f"/v2/dist/{repo}/manifests/v1").headers
        assert mirror.requests("HEAD", f"/{repo}/manifests/v1") == asked
        answer = http.get(f"/v2/dist/{repo}/manifests/v1")
        assert answer.content == image.manifest
        when = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
        expected = rf'110 - "upstream {re.escape(mirror.proxy.url[7:])} unreachable; '
        expected += rf'dist/{repo}:v1 as last checked {when}"'
        assert re.fullmatch(expected, answer.headers["warning"]), answer.headers["warning"]
        assert http.get(f"/v2/dist/{repo}/blobs/{sha256(held_layer)}").content == held_layer

        # Nothing held: an OCI error naming the upstream's failure, not a 500.
        for path in (
            f"/v2/dist/{repo}/manifests/v2",
            f"/v2/dist/{repo}/blobs/{sha256(other_layer)}",
        ):
            refused = http.get(path)
            assert refused.status_code == 503, refused.text
            (error,) = refused.json()["errors"]
            assert error["code"] == "UNAVAILABLE" and "503" in error["message"], error


def test_a_slow_upstream_does_not_hold_up_pulls_of_what_is_held(mirror: PullThrough) -> None:
    repo = repository()
    with mirror.upstream() as upstream, mirror.client() as http:
        image = push_image(upstream, repo, "v1")
        assert _digest_of(http, f"/v2/dist/{repo}/manifests/v1") == image.digest
        checked = time.monotonic()
        poll(lambda: time.monotonic() - checked > mirror.interval_s, "the interval's end")
        mirror.proxy.delay = 20.0  # longer than the server waits (3 s), shorter than httpx's
        try:
            answer = http.get(f"/v2/dist/{repo}/manifests/v1")
        finally:
            mirror.proxy.delay = 0.0
        assert (answer.status_code, answer.content) == (200, image.manifest)
        assert "unreachable" in answer.headers["warning"], answer.headers


def test_corrupted_blob_is_neither_completed_nor_stored(mirror: PullThrough) -> None:
    repo = repository()
    data = os.urandom(3 * 1024 * 1024)
    with mirror.upstream() as upstream, mirror.client() as http:
        digest = push_blob(upstream, repo, data)
        mirror.proxy.add(Fault(f"/blobs/{digest}", "corrupt", methods=("GET",), times=1))
        with pytest.raises(httpx.TransportError):  # the connection is cut, not completed
            http.get(f"/v2/dist/{repo}/blobs/{digest}")
        assert not mirror.blob_file(digest).exists()
        # The next pull fetches it again, and this time it is right.
        pulled = http.get(f"/v2/dist/{repo}/blobs/{digest}")
        assert (pulled.status_code, pulled.content == data) == (200, True)
        # The client has it once verified; the storage writes it behind (mirror_fetches).
        poll(mirror.blob_file(digest).exists, "the verified blob stored")
        assert mirror.blob_file(digest).read_bytes() == data


def test_concurrent_pulls_of_a_missing_blob_fetch_it_once(mirror: PullThrough) -> None:
    repo = repository()
    data = os.urandom(8 * 1024 * 1024)
    with mirror.upstream() as upstream:
        digest = push_blob(upstream, repo, data)

    def pull(_: int) -> bytes:
        with mirror.client() as http:
            response = http.get(f"/v2/dist/{repo}/blobs/{digest}")
            assert response.status_code == 200, response.text
            return response.content

    with ThreadPoolExecutor(6) as pool:
        assert all(got == data for got in pool.map(pull, range(6)))
    assert mirror.requests("GET", f"/blobs/{digest}") == 1


def test_a_client_that_leaves_does_not_stop_the_fetch(mirror: PullThrough) -> None:
    repo = repository()
    data = os.urandom(8 * 1024 * 1024)
    with mirror.upstream() as upstream:
        digest = push_blob(upstream, repo, data)
    with mirror.client() as http, http.stream("GET", f"/v2/dist/{repo}/blobs/{digest}") as r:
        assert r.status_code == 200
        assert r.headers["content-length"] == str(len(data))
        next(r.iter_raw())  # one chunk, then the client goes
    poll(mirror.blob_file(digest).exists, "the blob stored after the client left")
    assert mirror.blob_file(digest).read_bytes() == data
    with mirror.client() as http:
        assert http.get(f"/v2/dist/{repo}/blobs/{digest}").content == data
    assert mirror.requests("GET", f"/blobs/{digest}") == 1


def test_bytes_held_for_another_repository_need_the_upstream_s_word(
    mirror: PullThrough, tmp_path: Path
) -> None:
    """A blob pushed to a local repository is not readable through a mirror by its digest
    unless the upstream has it too."""
    repo = repository()
    secret = os.urandom(512)
    with mirror.client() as http:
        digest = push_blob(http, f"private/{repo}", secret)
        assert http.head(f"/v2/dist/{repo}/blobs/{digest}").status_code == 404
        assert http.get(f"/v2/dist/{repo}/blobs/{digest}").status_code == 404
        with mirror.upstream() as upstream:
            push_blob(upstream, repo, secret)
        assert http.get(f"/v2/dist/{repo}/blobs/{digest}").content == secret
    assert mirror.requests("GET", f"/blobs/{digest}") == 0  # linked, not fetched again


def test_replicas_on_one_database_fetch_a_missing_blob_once(
    tmp_path: Path, distribution: Distribution, s3: S3Endpoint
) -> None:
    """Two replicas on PostgreSQL and one bucket: of concurrent pulls of one missing blob on
    both, one replica fetches it (the lease in the database), the other serves it stored."""
    key = tmp_path / "signing.pem"
    write_new_key(key)
    repo = repository()
    data = os.urandom(8 * 1024 * 1024)
    with fresh_database() as url, fault_proxy(distribution.url) as proxy:
        env = {
            "TAGTRAIL_DATABASE_URL": url,
            "TAGTRAIL_BLOB_STORE": "s3",
            "TAGTRAIL_S3": json.dumps(s3.settings(s3.new_bucket())),
            "TAGTRAIL_TOKEN_KEY": str(key),
        }
        replicas = [start_server(tmp_path / f"replica{i}", env=env) for i in range(2)]
        try:
            add = ("mirror", "add", "dist", proxy.url, "--check-interval", "60s")
            admin_cli(tmp_path / "replica0", *add, env=env)
            with httpx.Client(base_url=distribution.url, timeout=30) as upstream:
                digest = push_blob(upstream, repo, data)
            path = f"/v2/dist/{repo}/blobs/{digest}"
            for replica in replicas:  # each sees the mirror within its cache's seconds
                poll(partial(_answers, replica.url + path), "the mirror seen by a replica")
            proxy.clear()

            def pull(index: int) -> bytes:
                base = replicas[index % 2].url
                with httpx.Client(base_url=base, timeout=60, follow_redirects=True) as http:
                    response = http.get(path)
                    assert response.status_code == 200, response.text
                    return response.content

            with ThreadPoolExecutor(6) as pool:
                assert all(got == data for got in pool.map(pull, range(6)))
            assert sum(1 for m, p in proxy.seen if m == "GET" and digest in p) == 1
        finally:
            for replica in replicas:
                replica.stop()


def _answers(url: str) -> bool:
    return httpx.head(url).status_code == 200
