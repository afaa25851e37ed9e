"""Manifests: the four media types, PUT by tag or digest, validation, deletes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Pushed,
    assert_oci_error,
    descriptor,
    encode,
    image_manifest,
    index_manifest,
    push_blob,
    push_image,
    push_manifest,
    put_manifest,
    random_bytes,
    repo,
    sha256,
    sha512,
)
from tests.inprocess import in_process_registry

MAX_MANIFEST = 4 * 1024 * 1024


def push_of_type(client: httpx.Client, name: str, media_type: str, reference: str) -> Pushed:
    """A manifest of ``media_type`` (with its children, for the index types)."""
    if media_type in (OCI_MANIFEST, DOCKER_MANIFEST):
        return push_image(client, name, reference, media_type=media_type)
    child_type = OCI_MANIFEST if media_type == OCI_INDEX else DOCKER_MANIFEST
    children = [push_image(client, name, media_type=child_type) for _ in range(2)]
    return push_manifest(
        client, name, reference, index_manifest(children, media_type=media_type), media_type
    )


def assert_manifest(client: httpx.Client, name: str, reference: str, pushed: Pushed) -> None:
    url = f"/v2/{name}/manifests/{reference}"
    accept = {"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}, {DOCKER_MANIFEST}, {DOCKER_LIST}"}
    head = client.head(url, headers=accept)
    assert head.status_code == 200, head.text
    assert head.headers["content-type"] == pushed.media_type
    assert head.headers["docker-content-digest"] == pushed.digest
    assert head.headers["content-length"] == str(len(pushed.body))
    get = client.get(url, headers=accept)
    assert get.status_code == 200, get.text
    assert get.headers["content-type"] == pushed.media_type
    assert get.headers["docker-content-digest"] == pushed.digest
    assert get.content == pushed.body


def assert_manifest_absent(client: httpx.Client, name: str, *references: str) -> None:
    for reference in references:
        response = client.get(f"/v2/{name}/manifests/{reference}")
        assert_oci_error(response, 404, ("MANIFEST_UNKNOWN", "NAME_UNKNOWN"))
        assert client.head(f"/v2/{name}/manifests/{reference}").status_code == 404


MEDIA_TYPES = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST]


@pytest.mark.parametrize("media_type", MEDIA_TYPES)
def test_put_by_tag_then_get_by_tag_and_digest(client: httpx.Client, media_type: str) -> None:
    name = repo("man")
    pushed = push_of_type(client, name, media_type, "v1")
    assert_manifest(client, name, "v1", pushed)
    assert_manifest(client, name, pushed.digest, pushed)


@pytest.mark.parametrize("media_type", MEDIA_TYPES)
def test_put_by_digest(client: httpx.Client, media_type: str) -> None:
    name = repo("man")
    probe = push_of_type(client, name, media_type, "probe")  # children and blobs are in place
    document = json.loads(probe.body)
    document["annotations"] = {"variant": "by-digest"}
    body = encode(document)
    response = put_manifest(client, name, sha256(body), body, media_type)
    assert response.status_code == 201, response.text
    assert response.headers["docker-content-digest"] == sha256(body)
    location = response.headers.get("location")
    assert location
    assert client.get(location).content == body
    assert_manifest(client, name, sha256(body), Pushed(body, sha256(body), media_type))


def test_put_by_tag_answers_location_and_digest(client: httpx.Client) -> None:
    name = repo("man")
    config = random_bytes()
    push_blob(client, name, config)
    body = image_manifest(config)
    response = put_manifest(client, name, "latest", body)
    assert response.status_code == 201, response.text
    assert response.headers["docker-content-digest"] == sha256(body)
    location = response.headers.get("location")
    assert location
    fetched = client.get(location)
    assert fetched.status_code == 200
    assert fetched.content == body


def test_put_by_sha512_digest(client: httpx.Client) -> None:
    name = repo("man")
    config = random_bytes()
    push_blob(client, name, config)
    body = image_manifest(config)
    response = put_manifest(client, name, sha512(body), body)
    assert response.status_code == 201, response.text
    assert response.headers["docker-content-digest"] == sha512(body)
    assert_manifest(client, name, sha512(body), Pushed(body, sha512(body), OCI_MANIFEST))


def test_put_by_digest_with_mismatching_body(client: httpx.Client) -> None:
    name = repo("man")
    config = random_bytes()
    push_blob(client, name, config)
    body = image_manifest(config)
    claimed = sha256(body + b" ")
    assert_oci_error(put_manifest(client, name, claimed, body), 400, "DIGEST_INVALID")
    assert_manifest_absent(client, name, claimed, sha256(body))
    claimed512 = sha512(body + b" ")
    assert_oci_error(put_manifest(client, name, claimed512, body), 400, "DIGEST_INVALID")
    assert_manifest_absent(client, name, claimed512, sha512(body), sha256(body))


def test_media_type_from_field_wins_over_generic_header(client: httpx.Client) -> None:
    name = repo("man")
    config = random_bytes()
    push_blob(client, name, config)
    body = image_manifest(config, media_type=DOCKER_MANIFEST)
    response = put_manifest(client, name, "t", body, "application/json")
    assert response.status_code == 201, response.text
    assert client.get(f"/v2/{name}/manifests/t").headers["content-type"] == DOCKER_MANIFEST


@pytest.mark.parametrize("media_type", [OCI_MANIFEST, DOCKER_MANIFEST])
def test_media_type_from_header_when_field_absent(client: httpx.Client, media_type: str) -> None:
    name = repo("man")
    config = random_bytes()
    push_blob(client, name, config)
    body = image_manifest(config, include_media_type=False)
    response = put_manifest(client, name, "t", body, media_type)
    assert response.status_code == 201, response.text
    for reference in ("t", sha256(body)):
        got = client.get(f"/v2/{name}/manifests/{reference}")
        assert got.headers["content-type"] == media_type


def test_index_media_type_from_header(client: httpx.Client) -> None:
    name = repo("man")
    child = push_image(client, name)
    document = json.loads(index_manifest([child]))
    del document["mediaType"]
    body = encode(document)
    assert put_manifest(client, name, "idx", body, OCI_INDEX).status_code == 201
    assert client.get(f"/v2/{name}/manifests/idx").headers["content-type"] == OCI_INDEX


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"",
        b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"',
        b"[1, 2, 3]",
        b'"a string"',
    ],
    ids=["garbage", "empty", "truncated", "array", "string"],
)
def test_invalid_json_is_manifest_invalid(client: httpx.Client, body: bytes) -> None:
    name = repo("man")
    push_image(client, name, "existing")
    assert_oci_error(put_manifest(client, name, "bad", body), 400, "MANIFEST_INVALID")
    assert_manifest_absent(client, name, "bad", sha256(body))


def test_truncated_valid_manifest_is_manifest_invalid(client: httpx.Client) -> None:
    name = repo("man")
    config = random_bytes()
    push_blob(client, name, config)
    body = image_manifest(config)
    for cut in (1, len(body) // 2, len(body) - 1):
        truncated = body[:cut]
        response = put_manifest(client, name, "t", truncated)
        assert_oci_error(response, 400, "MANIFEST_INVALID")
        assert_manifest_absent(client, name, "t", sha256(truncated))


def test_missing_config_blob_is_manifest_blob_unknown(client: httpx.Client) -> None:
    name = repo("man")
    push_image(client, name, "existing")
    body = image_manifest(random_bytes())
    assert_oci_error(put_manifest(client, name, "t", body), 400, "MANIFEST_BLOB_UNKNOWN")
    assert_manifest_absent(client, name, "t", sha256(body))


def test_missing_layer_is_manifest_blob_unknown(client: httpx.Client) -> None:
    name = repo("man")
    config = random_bytes()
    layer = random_bytes()
    push_blob(client, name, config)
    body = image_manifest(config, [layer])
    assert_oci_error(put_manifest(client, name, "t", body), 400, "MANIFEST_BLOB_UNKNOWN")
    assert_manifest_absent(client, name, "t", sha256(body))


def test_blob_of_another_repository_is_manifest_blob_unknown(client: httpx.Client) -> None:
    name, other = repo("man"), repo("man")
    config, layer = random_bytes(), random_bytes()
    push_blob(client, name, config)
    push_blob(client, other, layer)  # stored, but not in ``name``
    body = image_manifest(config, [layer])
    assert_oci_error(put_manifest(client, name, "t", body), 400, "MANIFEST_BLOB_UNKNOWN")
    assert_manifest_absent(client, name, "t", sha256(body))
    # Mounting it makes the same manifest acceptable.
    digest = sha256(layer)
    mounted = client.post(f"/v2/{name}/blobs/uploads/", params={"mount": digest, "from": other})
    assert mounted.status_code == 201
    assert put_manifest(client, name, "t", body).status_code == 201


@pytest.mark.parametrize("media_type", [OCI_INDEX, DOCKER_LIST])
def test_index_with_unknown_child(client: httpx.Client, media_type: str) -> None:
    name = repo("man")
    child = push_image(client, name)
    config = random_bytes()
    push_blob(client, name, config)
    absent_body = image_manifest(config, annotations={"never": "pushed"})
    absent = Pushed(absent_body, sha256(absent_body), OCI_MANIFEST)
    body = index_manifest([child, absent], media_type=media_type)
    response = put_manifest(client, name, "idx", body, media_type)
    assert_oci_error(response, 400, ("MANIFEST_INVALID", "MANIFEST_BLOB_UNKNOWN"))
    assert_manifest_absent(client, name, "idx", sha256(body))


def test_index_child_of_another_repository_is_refused(client: httpx.Client) -> None:
    name, other = repo("man"), repo("man")
    push_image(client, name, "existing")
    child = push_image(client, other)
    body = index_manifest([child])
    response = put_manifest(client, name, "idx", body, OCI_INDEX)
    assert_oci_error(response, 400, ("MANIFEST_INVALID", "MANIFEST_BLOB_UNKNOWN"))
    assert_manifest_absent(client, name, "idx", sha256(body))


def test_empty_index_is_accepted(client: httpx.Client) -> None:
    name = repo("man")
    body = index_manifest([])
    pushed = push_manifest(client, name, "empty", body, OCI_INDEX)
    assert_manifest(client, name, "empty", pushed)


def test_subject_may_point_at_a_manifest_not_pushed_yet(client: httpx.Client) -> None:
    name = repo("man")
    config = random_bytes()
    push_blob(client, name, config)
    subject = {"mediaType": OCI_MANIFEST, "digest": sha256(random_bytes()), "size": 123}
    body = image_manifest(config, subject=subject, artifact_type="application/vnd.example.sig")
    response = put_manifest(client, name, sha256(body), body)
    assert response.status_code == 201, response.text
    assert response.headers["oci-subject"] == subject["digest"]
    assert client.get(f"/v2/{name}/manifests/{sha256(body)}").content == body


def test_arbitrary_config_and_layer_media_types(client: httpx.Client) -> None:
    name = repo("man")
    config, layer = random_bytes(), random_bytes()
    push_blob(client, name, config)
    push_blob(client, name, layer)
    body = image_manifest(
        config,
        [layer],
        config_type="application/vnd.example.thing.config.v1+json",
        layer_type="text/x-whatever; charset=utf-8",
        artifact_type="application/vnd.example.thing",
    )
    pushed = push_manifest(client, name, "artifact", body)
    assert_manifest(client, name, "artifact", pushed)


def test_oci_empty_config_artifact(client: httpx.Client) -> None:
    name = repo("man")
    empty = b"{}"
    push_blob(client, name, empty)
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.empty",
        "config": descriptor("application/vnd.oci.empty.v1+json", empty),
        "layers": [descriptor("application/vnd.oci.empty.v1+json", empty)],
    }
    pushed = push_manifest(client, name, "e", encode(document))
    assert_manifest(client, name, "e", pushed)


def padded(body: bytes, size: int) -> bytes:
    """``body`` (a JSON object) padded with whitespace to exactly ``size`` bytes."""
    assert body.endswith(b"}")
    return body[:-1] + b" " * (size - len(body)) + b"}"


def test_manifest_of_exactly_4_mib_is_accepted(served_client: httpx.Client) -> None:
    client = served_client  # the limit on a body as the server receives it
    name = repo("man")
    config = random_bytes()
    push_blob(client, name, config)
    body = padded(image_manifest(config), MAX_MANIFEST)
    assert len(body) == MAX_MANIFEST
    pushed = push_manifest(client, name, "big", body)
    assert client.get(f"/v2/{name}/manifests/{pushed.digest}").content == body


def test_manifest_over_4_mib_is_413(served_client: httpx.Client) -> None:
    client = served_client  # the limit on a body as the server receives it
    name = repo("man")
    config = random_bytes()
    push_blob(client, name, config)
    body = padded(image_manifest(config), MAX_MANIFEST + 1)
    assert_oci_error(put_manifest(client, name, "big", body), 413)
    assert_manifest_absent(client, name, "big", sha256(body))


def test_chunked_manifest_over_4_mib_is_413(served_client: httpx.Client) -> None:
    client = served_client  # the limit on a body as the server receives it
    name = repo("man")
    config = random_bytes()
    push_blob(client, name, config)
    body = padded(image_manifest(config), MAX_MANIFEST + 1024)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 256 * 1024):
            yield body[start : start + 256 * 1024]

    response = client.put(
        f"/v2/{name}/manifests/big",
        content=chunks(),
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert "content-length" not in response.request.headers
    assert_oci_error(response, 413)
    assert_manifest_absent(client, name, "big", sha256(body))


def test_unknown_manifest(client: httpx.Client) -> None:
    name = repo("man")
    push_image(client, name, "v1")
    assert_oci_error(client.get(f"/v2/{name}/manifests/nope"), 404, "MANIFEST_UNKNOWN")
    assert client.head(f"/v2/{name}/manifests/nope").status_code == 404
    missing = sha256(random_bytes())
    assert_oci_error(client.get(f"/v2/{name}/manifests/{missing}"), 404, "MANIFEST_UNKNOWN")
    response = client.get(f"/v2/{repo()}/manifests/latest")
    assert_oci_error(response, 404, ("MANIFEST_UNKNOWN", "NAME_UNKNOWN"))


def test_manifest_is_scoped_to_its_repository(client: httpx.Client) -> None:
    name, other = repo("man"), repo("man")
    pushed = push_image(client, name, "v1")
    push_image(client, other, "v1")
    response = client.get(f"/v2/{other}/manifests/{pushed.digest}")
    assert_oci_error(response, 404, "MANIFEST_UNKNOWN")


def test_delete_by_tag_keeps_the_manifest(client: httpx.Client) -> None:
    name = repo("man")
    pushed = push_image(client, name, "v1")
    push_manifest(client, name, "v2", pushed.body)
    response = client.delete(f"/v2/{name}/manifests/v1")
    assert response.status_code == 202, response.text
    assert_oci_error(client.get(f"/v2/{name}/manifests/v1"), 404, "MANIFEST_UNKNOWN")
    assert_manifest(client, name, pushed.digest, pushed)
    assert_manifest(client, name, "v2", pushed)
    assert client.get(f"/v2/{name}/tags/list").json()["tags"] == ["v2"]
    assert_oci_error(client.delete(f"/v2/{name}/manifests/v1"), 404, "MANIFEST_UNKNOWN")


def test_delete_by_digest_untags_every_tag(client: httpx.Client) -> None:
    name = repo("man")
    pushed = push_image(client, name, "a")
    push_manifest(client, name, "b", pushed.body)
    kept = push_image(client, name, "c")
    response = client.delete(f"/v2/{name}/manifests/{pushed.digest}")
    assert response.status_code == 202, response.text
    assert_manifest_absent(client, name, pushed.digest, "a", "b")
    assert client.get(f"/v2/{name}/tags/list").json()["tags"] == ["c"]
    assert_manifest(client, name, "c", kept)
    assert_oci_error(
        client.delete(f"/v2/{name}/manifests/{pushed.digest}"), 404, "MANIFEST_UNKNOWN"
    )


def test_deleted_manifest_can_be_pushed_again(client: httpx.Client) -> None:
    name = repo("man")
    pushed = push_image(client, name, "a")
    assert client.delete(f"/v2/{name}/manifests/{pushed.digest}").status_code == 202
    again = push_manifest(client, name, "a", pushed.body)
    assert_manifest(client, name, "a", again)


def test_delete_unknown_manifest(client: httpx.Client) -> None:
    name = repo("man")
    push_image(client, name, "v1")
    missing = sha256(random_bytes())
    assert_oci_error(client.delete(f"/v2/{name}/manifests/{missing}"), 404, "MANIFEST_UNKNOWN")
    assert_oci_error(client.delete(f"/v2/{name}/manifests/nope"), 404, "MANIFEST_UNKNOWN")


@pytest.mark.parametrize("tag", ["-leading-dash", ".dot", "a" * 129, "has+plus"])
def test_invalid_tag_is_refused(client: httpx.Client, tag: str) -> None:
    name = repo("man")
    config = random_bytes()
    push_blob(client, name, config)
    body = image_manifest(config)
    response = put_manifest(client, name, tag, body)
    assert_oci_error(response, 400, ("TAG_INVALID", "MANIFEST_INVALID", "NAME_INVALID"))
    assert_manifest_absent(client, name, sha256(body))


def test_longest_valid_tag(client: httpx.Client) -> None:
    name = repo("man")
    tag = "_" + "a" * 127
    pushed = push_image(client, name, tag)
    assert_manifest(client, name, tag, pushed)


def test_protect_history_refuses_deleting_named_digests(tmp_path: Path) -> None:
    with (
        in_process_registry(tmp_path / "data", protect_history=True) as registry,
        registry.client() as client,
    ):
        name = repo("protect")
        current = push_image(client, name, "v1")
        old = push_image(client, name, "moved")
        push_manifest(client, name, "moved", current.body)  # ``old`` is only in history now
        untagged = push_image(client, name)  # never named by a tag

        for digest in (current.digest, old.digest):
            response = client.delete(f"/v2/{name}/manifests/{digest}")
            assert_oci_error(response, 405, "UNSUPPORTED")
            assert client.get(f"/v2/{name}/manifests/{digest}").status_code == 200

        # Tags themselves may still be deleted; the digest stays protected afterwards.
        assert client.delete(f"/v2/{name}/manifests/v1").status_code == 202
        assert client.delete(f"/v2/{name}/manifests/moved").status_code == 202
        response = client.delete(f"/v2/{name}/manifests/{current.digest}")
        assert_oci_error(response, 405, "UNSUPPORTED")
        assert client.get(f"/v2/{name}/manifests/{current.digest}").status_code == 200

        assert client.delete(f"/v2/{name}/manifests/{untagged.digest}").status_code == 202
        assert_manifest_absent(client, name, untagged.digest)
