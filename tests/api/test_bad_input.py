"""Repository names, path traversal, malformed bodies: 4xx with an OCI body, never a 500,
and nothing half-written left visible."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.api.helpers import (
    OCI_MANIFEST,
    assert_not_server_error,
    assert_oci_error,
    assert_raw_oci_error,
    encode,
    image_manifest,
    push_blob,
    push_image,
    put_manifest,
    random_bytes,
    raw_request,
    repo,
    sha256,
)
from tests.server import RunningServer

VALID_NAMES = [
    "foo.com/chainguard-base",
    "chainguard/python",
    "a",
    "a/b/c/d/e",
    "a__b",
    "a_b.c-d",
    "a---b",
    "0/9",
]
INVALID_NAMES = [
    "Upper/case",
    "chainguard/Python",
    "a/../b",
    "a/./b",
    "..",
    "a..b",
    "trailing-",
    "-leading",
    "a/-b",
    "a/b-",
    "a//b",
    "a/",
    "a___b",
    "a.-b",
    "_a",
    "a" * 256,
]


@pytest.mark.parametrize("suffix", VALID_NAMES)
def test_valid_names(client: httpx.Client, suffix: str) -> None:
    name = f"{repo('names')}/{suffix}"
    pushed = push_image(client, name, "v1")
    response = client.get(f"/v2/{name}/manifests/v1")
    assert response.status_code == 200
    assert response.content == pushed.body
    assert client.get(f"/v2/{name}/tags/list").json() == {"name": name, "tags": ["v1"]}


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_invalid_names_are_name_invalid(server: RunningServer, name: str) -> None:
    digest = sha256(b"x")
    for method, path in [
        ("GET", f"/v2/{name}/tags/list"),
        ("GET", f"/v2/{name}/manifests/latest"),
        ("GET", f"/v2/{name}/blobs/{digest}"),
        ("POST", f"/v2/{name}/blobs/uploads/"),
        ("PUT", f"/v2/{name}/manifests/latest"),
    ]:
        response = raw_request(server.host, method, path, b"{}" if method == "PUT" else None)
        assert_raw_oci_error(response)
        if response.status != 404:  # "a//b", "a/" may be no route at all
            assert response.status == 400, (method, path, response.body)
            assert response.json()["errors"][0]["code"] == "NAME_INVALID", response.body


def test_leading_slash_name(server: RunningServer) -> None:
    response = raw_request(server.host, "GET", "/v2//leading/tags/list")
    assert_raw_oci_error(response)


def test_name_of_255_characters_is_accepted(client: httpx.Client) -> None:
    prefix = repo("long")
    name = prefix + "/" + "a" * (255 - len(prefix) - 1)
    assert len(name) == 255
    push_image(client, name, "v1")
    assert client.get(f"/v2/{name}/manifests/v1").status_code == 200


TRAVERSALS = [
    "/v2/a/../b/tags/list",
    "/v2/a/%2e%2e/b/tags/list",
    "/v2/a/%2E%2E/%2E%2E/etc/tags/list",
    "/v2/../../etc/passwd",
    "/v2/%2e%2e/%2e%2e/etc/passwd/tags/list",
    "/v2/a/b/..%2f..%2fetc/tags/list",
    "/v2/a/blobs/sha256:../../etc",
    "/v2/a/blobs/sha256:..%2f..%2fetc",
    "/v2/a/blobs/sha256%3a..%2f..%2fetc%2fpasswd",
    "/v2/a/manifests/sha256:../../etc",
    "/v2/a/manifests/..%2f..%2fetc",
    "/v2/a/referrers/sha256:../../etc",
    "/v2/a/blobs/uploads/../../x",
    "/v2/a/blobs/uploads/..%2f..%2fx",
    "/v2/a/blobs/uploads/%2e%2e",
    "/v2/a/blobs/uploads/..",
    "/v2/a/_chainguard/history/..%2f..%2fx",
    "/v2/a/_oci/tag-history/..",
]


@pytest.mark.parametrize("path", TRAVERSALS)
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_path_traversal_is_refused(server: RunningServer, path: str, method: str) -> None:
    response = raw_request(server.host, method, path, b"{}" if method != "GET" else None)
    assert_raw_oci_error(response)


def test_traversal_digest_in_upload_completion(
    served_client: httpx.Client, server: RunningServer
) -> None:
    client = served_client
    name = repo("trav")
    response = client.post(f"/v2/{name}/blobs/uploads/")
    location = httpx.URL(response.headers["location"])
    for digest in ("sha256:../../etc", "sha256:..%2f..%2fx", "../../x"):
        raw = raw_request(server.host, "PUT", f"{location.path}?digest={digest}", b"data")
        assert_raw_oci_error(raw)
        assert raw.status == 400
    raw = raw_request(server.host, "POST", f"/v2/{name}/blobs/uploads/?digest=sha256:../x", b"x")
    assert_raw_oci_error(raw)
    raw = raw_request(
        server.host, "POST", f"/v2/{name}/blobs/uploads/?mount=sha256:../x&from=a", b""
    )
    assert_raw_oci_error(raw)
    raw = raw_request(
        server.host, "POST", f"/v2/{name}/blobs/uploads/?mount={sha256(b'x')}&from=../..", b""
    )
    assert raw.status < 500


def test_traversal_digest_inside_manifest(client: httpx.Client) -> None:
    name = repo("trav")
    config = random_bytes()
    push_blob(client, name, config)
    document = json.loads(image_manifest(config))
    document["layers"] = [{"mediaType": "x", "digest": "sha256:../../../etc/passwd", "size": 1}]
    body = encode(document)
    response = put_manifest(client, name, "t", body)
    assert_oci_error(response, 400, ("MANIFEST_INVALID", "DIGEST_INVALID"))
    assert_oci_error(client.get(f"/v2/{name}/manifests/t"), 404, "MANIFEST_UNKNOWN")


# -- malformed manifests never cause a 500 ---------------------------------------------------


def assert_refused_and_absent(client: httpx.Client, name: str, body: bytes) -> None:
    response = put_manifest(client, name, "bad", body)
    assert_oci_error(response, 400, "MANIFEST_INVALID")
    assert_oci_error(client.get(f"/v2/{name}/manifests/bad"), 404, "MANIFEST_UNKNOWN")
    assert_oci_error(client.get(f"/v2/{name}/manifests/{sha256(body)}"), 404, "MANIFEST_UNKNOWN")


@pytest.mark.parametrize(
    "document",
    [
        {"schemaVersion": 1, "mediaType": OCI_MANIFEST},
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST},
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": "x", "layers": []},
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {}, "layers": []},
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json"},
        {"schemaVersion": 2, "mediaType": "application/vnd.example.not-a-manifest"},
        {"schemaVersion": 2, "mediaType": 7},
        {"layers": []},
    ],
)
def test_structurally_invalid_manifests(client: httpx.Client, document: object) -> None:
    name = repo("bad")
    push_image(client, name, "ok")
    assert_refused_and_absent(client, name, json.dumps(document).encode())


def test_deeply_nested_json_is_manifest_invalid(client: httpx.Client) -> None:
    name = repo("bad")
    push_image(client, name, "ok")
    depth = 100_000
    assert_refused_and_absent(client, name, b"[" * depth + b"]" * depth)


def test_deeply_nested_annotation_is_manifest_invalid(client: httpx.Client) -> None:
    name = repo("bad")
    config = random_bytes()
    push_blob(client, name, config)
    body = image_manifest(config)
    depth = 100_000
    nested = body[:-1] + b',"x":' + b"[" * depth + b"]" * depth + b"}"
    assert_refused_and_absent(client, name, nested)


def test_huge_integer_is_manifest_invalid(client: httpx.Client) -> None:
    name = repo("bad")
    config = random_bytes()
    push_blob(client, name, config)
    document = json.loads(image_manifest(config))
    document["config"]["size"] = 0
    body = json.dumps(document).encode().replace(b'"size": 0', b'"size": 1' + b"0" * 5000)
    assert_refused_and_absent(client, name, body)


def test_lone_surrogate_artifact_type_is_not_a_server_error(client: httpx.Client) -> None:
    name = repo("bad")
    config = random_bytes()
    push_blob(client, name, config)
    body = image_manifest(config)[:-1] + b',"artifactType":"\\ud800"}'
    response = put_manifest(client, name, "sur", body)
    assert_not_server_error(response)
    if response.status_code == 201:
        got = client.get(f"/v2/{name}/manifests/sur")
        assert got.content == body
    else:
        assert_oci_error(response, 400, "MANIFEST_INVALID")
        assert_oci_error(client.get(f"/v2/{name}/manifests/sur"), 404, "MANIFEST_UNKNOWN")


def test_invalid_utf8_is_manifest_invalid(client: httpx.Client) -> None:
    name = repo("bad")
    push_image(client, name, "ok")
    assert_refused_and_absent(client, name, b'{"schemaVersion": 2, "x": "\xff\xfe"}')


# -- failed writes leave nothing behind -----------------------------------------------------


def test_failed_manifest_put_leaves_tag_untouched(client: httpx.Client) -> None:
    name = repo("bad")
    good = push_image(client, name, "t")
    body = image_manifest(random_bytes())  # unknown config
    assert_oci_error(put_manifest(client, name, "t", body), 400, "MANIFEST_BLOB_UNKNOWN")
    assert client.get(f"/v2/{name}/manifests/t").content == good.body
    history = client.get(f"/v2/{name}/_chainguard/history/t").json()["history"]
    assert [r["digest"] for r in history] == [good.digest]


def test_failed_put_to_new_repository_creates_nothing(client: httpx.Client) -> None:
    name = repo("bad")
    body = image_manifest(random_bytes())
    assert_oci_error(put_manifest(client, name, "t", body), 400, "MANIFEST_BLOB_UNKNOWN")
    response = client.get(f"/v2/{name}/manifests/t")
    assert_oci_error(response, 404, ("MANIFEST_UNKNOWN", "NAME_UNKNOWN"))
    assert_oci_error(client.get(f"/v2/{name}/tags/list"), 404, "NAME_UNKNOWN")
    assert client.get(f"/v2/{name}/_oci/tag-history/t").json()["manifests"] == []


def test_failed_upload_to_new_repository_creates_no_repository(client: httpx.Client) -> None:
    """A monolithic upload refused for its digest leaves no trace: the repository it named
    is not listed by the catalog and stays unknown."""
    name = repo("bad")
    data = random_bytes()
    response = client.post(
        f"/v2/{name}/blobs/uploads/", params={"digest": sha256(random_bytes())}, content=data
    )
    assert_oci_error(response, 400, "DIGEST_INVALID")
    assert_oci_error(client.get(f"/v2/{name}/tags/list"), 404, "NAME_UNKNOWN")
    catalog = client.get("/v2/_catalog", params={"last": name[:-1], "n": 5}).json()
    assert name not in (catalog["repositories"] or [])


def test_interrupted_chunk_is_not_kept(client: httpx.Client) -> None:
    """A chunk whose length does not match its Content-Range is refused whole."""
    name = repo("bad")
    response = client.post(f"/v2/{name}/blobs/uploads/")
    location = response.headers["location"]
    short = client.patch(location, content=b"abc", headers={"Content-Range": "0-9"})
    assert_oci_error(short, 400, ("BLOB_UPLOAD_INVALID", "SIZE_INVALID"))
    status = client.get(location)
    assert status.status_code == 204
    assert status.headers["range"] in ("0-0", "0--1")
    data = random_bytes(10)
    ok = client.patch(location, content=data, headers={"Content-Range": "0-9"})
    assert ok.status_code == 202, ok.text
    put = client.put(ok.headers["location"], params={"digest": sha256(data)})
    assert put.status_code == 201, put.text
    assert client.get(f"/v2/{name}/blobs/{sha256(data)}").content == data
    assert_oci_error(client.get(f"/v2/{name}/blobs/{sha256(b'abc')}"), 404, "BLOB_UNKNOWN")
