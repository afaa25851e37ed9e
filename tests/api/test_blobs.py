"""Blob reads (HEAD/GET, byte ranges), deletes, and per-repository visibility."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.api.helpers import (
    assert_oci_error,
    encode,
    image_manifest,
    push_blob,
    push_image,
    push_manifest,
    random_bytes,
    repo,
    sha256,
    sha512,
)
from tests.inprocess import InProcessRegistry
from tests.server import RunningServer, start_server
from tests.ssl_context import SHARED


@pytest.fixture(scope="module")
def uncached_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A registry that serves every blob from its file (pathsend), none from memory."""
    running = start_server(
        tmp_path_factory.mktemp("uncached") / "data", env={"TAGTRAIL_BLOB_CACHE_BYTES": "0"}
    )
    yield running
    running.stop()


@pytest.fixture(params=["from memory", "from its file"])
def client(request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    """Every test here runs against both ways a small blob is sent: from the blob cache (in
    this process), and from its file by the real server (pathsend is granian's)."""
    if request.param == "from memory":
        registry: InProcessRegistry = request.getfixturevalue("app_registry")
        with registry.client() as http:
            yield http
        return
    server: RunningServer = request.getfixturevalue("uncached_server")
    with httpx.Client(base_url=server.url, timeout=30, verify=SHARED) as http:
        yield http


@pytest.fixture
def blob(client: httpx.Client) -> tuple[str, bytes, str]:
    """(repository, 100 bytes of content, digest), pushed."""
    name = repo("blobs")
    data = random_bytes(100)
    return name, data, push_blob(client, name, data)


def test_head_and_get(client: httpx.Client, blob: tuple[str, bytes, str]) -> None:
    name, data, digest = blob
    head = client.head(f"/v2/{name}/blobs/{digest}")
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(data))
    assert head.headers["docker-content-digest"] == digest
    assert head.content == b""

    get = client.get(f"/v2/{name}/blobs/{digest}")
    assert get.status_code == 200
    assert get.headers["content-length"] == str(len(data))
    assert get.headers["docker-content-digest"] == digest
    assert get.content == data


def test_sha512_blob(client: httpx.Client) -> None:
    name = repo("blobs")
    data = random_bytes(300)
    digest = push_blob(client, name, data, "sha512")
    assert digest == sha512(data)
    response = client.get(f"/v2/{name}/blobs/{digest}")
    assert response.status_code == 200
    assert response.headers["docker-content-digest"] == digest
    assert response.content == data
    # The sha256 of the same bytes was never pushed.
    assert_oci_error(client.get(f"/v2/{name}/blobs/{sha256(data)}"), 404, "BLOB_UNKNOWN")


def test_unknown_blob(client: httpx.Client, blob: tuple[str, bytes, str]) -> None:
    name, _, _ = blob
    missing = sha256(random_bytes())
    assert_oci_error(client.get(f"/v2/{name}/blobs/{missing}"), 404, "BLOB_UNKNOWN")
    assert client.head(f"/v2/{name}/blobs/{missing}").status_code == 404
    # In a repository that does not exist at all.
    assert_oci_error(client.get(f"/v2/{repo()}/blobs/{missing}"), 404, "BLOB_UNKNOWN")


@pytest.mark.parametrize(
    "bad", ["sha256:abc", "sha256:" + "A" * 64, "sha256" + "a" * 64, "sha512:" + "a" * 64, "latest"]
)
def test_malformed_digest_is_400(client: httpx.Client, bad: str) -> None:
    assert_oci_error(client.get(f"/v2/{repo()}/blobs/{bad}"), 400, "DIGEST_INVALID")


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-9", 0, 9),  # first-last
        ("bytes=10-19", 10, 19),
        ("bytes=99-99", 99, 99),  # the last byte
        ("bytes=90-", 90, 99),  # open-ended
        ("bytes=0-", 0, 99),
        ("bytes=-5", 95, 99),  # suffix
        ("bytes=-1000", 0, 99),  # suffix longer than the blob: the whole blob
        ("bytes=95-1000", 95, 99),  # last past the end: clamped
    ],
)
def test_range_requests_answer_206(
    client: httpx.Client, blob: tuple[str, bytes, str], header: str, first: int, last: int
) -> None:
    name, data, digest = blob
    response = client.get(f"/v2/{name}/blobs/{digest}", headers={"Range": header})
    assert response.status_code == 206, response.text
    assert response.headers["content-range"] == f"bytes {first}-{last}/{len(data)}"
    assert response.headers["content-length"] == str(last - first + 1)
    assert response.content == data[first : last + 1]


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=100-200", "bytes=1000-2000", "bytes=-0"])
def test_unsatisfiable_range_is_416(
    client: httpx.Client, blob: tuple[str, bytes, str], header: str
) -> None:
    name, data, digest = blob
    response = client.get(f"/v2/{name}/blobs/{digest}", headers={"Range": header})
    assert_oci_error(response, 416)
    assert response.headers["content-range"] == f"bytes */{len(data)}"


def test_range_with_unknown_unit_is_ignored(
    client: httpx.Client, blob: tuple[str, bytes, str]
) -> None:
    """RFC 9110 14.2: a server MUST ignore a Range header with a range unit it does not
    understand, and answer the whole representation."""
    name, data, digest = blob
    response = client.get(f"/v2/{name}/blobs/{digest}", headers={"Range": "items=0-5"})
    assert response.status_code == 200, response.text
    assert response.content == data


def test_malformed_range_is_ignored_or_an_oci_error(
    client: httpx.Client, blob: tuple[str, bytes, str]
) -> None:
    """RFC 9110 lets a server ignore or reject an invalid ranges-specifier; a rejection is
    still an error, so it carries the OCI body."""
    name, data, digest = blob
    response = client.get(f"/v2/{name}/blobs/{digest}", headers={"Range": "bytes=abc"})
    if response.status_code == 200:
        assert response.content == data
    else:
        assert_oci_error(response, response.status_code)
        assert response.status_code in (400, 416)


def test_delete_then_blob_unknown(client: httpx.Client, blob: tuple[str, bytes, str]) -> None:
    name, _, digest = blob
    response = client.delete(f"/v2/{name}/blobs/{digest}")
    assert response.status_code == 202, response.text
    assert_oci_error(client.get(f"/v2/{name}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert client.head(f"/v2/{name}/blobs/{digest}").status_code == 404
    assert_oci_error(client.delete(f"/v2/{name}/blobs/{digest}"), 404, "BLOB_UNKNOWN")


def test_delete_unknown_blob(client: httpx.Client, blob: tuple[str, bytes, str]) -> None:
    name, _, _ = blob
    missing = sha256(random_bytes())
    assert_oci_error(client.delete(f"/v2/{name}/blobs/{missing}"), 404, "BLOB_UNKNOWN")


def test_blob_is_unknown_in_other_repositories(
    client: httpx.Client, blob: tuple[str, bytes, str]
) -> None:
    name, _, digest = blob
    other = repo("blobs")
    push_blob(client, other, random_bytes())  # the other repository exists
    assert_oci_error(client.get(f"/v2/{other}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert client.head(f"/v2/{other}/blobs/{digest}").status_code == 404
    assert_oci_error(client.delete(f"/v2/{other}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    # ... and the refused delete did not touch the owner's copy.
    assert client.get(f"/v2/{name}/blobs/{digest}").status_code == 200


def test_same_bytes_pushed_to_two_repositories_are_independent(client: httpx.Client) -> None:
    data = random_bytes(77)
    first, second = repo("blobs"), repo("blobs")
    digest = push_blob(client, first, data)
    assert push_blob(client, second, data) == digest
    assert client.delete(f"/v2/{first}/blobs/{digest}").status_code == 202
    assert_oci_error(client.get(f"/v2/{first}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    response = client.get(f"/v2/{second}/blobs/{digest}")
    assert response.status_code == 200
    assert response.content == data


def test_mounted_blob_survives_delete_in_source(client: httpx.Client) -> None:
    data = random_bytes(55)
    source, target = repo("blobs"), repo("blobs")
    digest = push_blob(client, source, data)
    mounted = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": source})
    assert mounted.status_code == 201, mounted.text
    assert client.delete(f"/v2/{source}/blobs/{digest}").status_code == 202
    response = client.get(f"/v2/{target}/blobs/{digest}")
    assert response.status_code == 200
    assert response.content == data


def test_delete_of_a_blob_a_manifest_references_is_refused(client: httpx.Client) -> None:
    """Its pulls would fail: refused while any manifest of the repository references it,
    tagged or not; gc reclaims the space once none does."""
    name = repo("blobs")
    tagged = push_image(client, name, "v1")
    config, layer = (d["digest"] for d in _blobs_of(tagged.body))
    copy = encode({**json.loads(tagged.body), "annotations": {"copy": "yes"}})
    untagged = push_manifest(client, name, sha256(copy), copy)  # the same blobs, no tag
    for blob in (config, layer):
        error = assert_oci_error(client.delete(f"/v2/{name}/blobs/{blob}"), 405, "UNSUPPORTED")
        named = min(tagged.digest, untagged.digest)
        assert named in error["message"]
        assert error["detail"] == {"digest": blob, "manifest": named}
        assert client.get(f"/v2/{name}/blobs/{blob}").status_code == 200
    assert client.get(f"/v2/{name}/manifests/v1").content == tagged.body
    assert client.delete(f"/v2/{name}/manifests/{tagged.digest}").status_code == 202
    assert_oci_error(client.delete(f"/v2/{name}/blobs/{layer}"), 405, "UNSUPPORTED")
    assert client.delete(f"/v2/{name}/manifests/{untagged.digest}").status_code == 202
    for blob in (config, layer):
        assert client.delete(f"/v2/{name}/blobs/{blob}").status_code == 202
        assert_oci_error(client.get(f"/v2/{name}/blobs/{blob}"), 404, "BLOB_UNKNOWN")


def test_references_hold_blobs_of_their_own_repository_only(client: httpx.Client) -> None:
    config = random_bytes()
    first, second = repo("blobs"), repo("blobs")
    digest = push_blob(client, first, config)
    push_manifest(client, first, "v1", image_manifest(config))
    assert push_blob(client, second, config) == digest
    assert client.delete(f"/v2/{second}/blobs/{digest}").status_code == 202
    assert_oci_error(client.delete(f"/v2/{first}/blobs/{digest}"), 405, "UNSUPPORTED")
    assert client.get(f"/v2/{first}/blobs/{digest}").content == config


def _blobs_of(body: bytes) -> list[dict[str, object]]:
    document = json.loads(body)
    return [document["config"], *document["layers"]]
