"""``PUT /v2/<name>/manifests/<digest>?tag=a&tag=b``: the spec's tags of a push by digest, set
and recorded in the push's one transaction and confirmed by one ``OCI-Tag`` header each."""

from __future__ import annotations

import httpx

from tests.api.helpers import (
    OCI_MANIFEST,
    assert_oci_error,
    image_manifest,
    push_blob,
    push_image,
    random_bytes,
    repo,
    sha256,
)


def _image(client: httpx.Client, name: str) -> bytes:
    config = random_bytes()
    push_blob(client, name, config)
    return image_manifest(config)


def _put(
    client: httpx.Client, name: str, reference: str, body: bytes, *tags: str
) -> httpx.Response:
    return client.put(
        f"/v2/{name}/manifests/{reference}",
        params=[("tag", tag) for tag in tags],
        content=body,
        headers={"Content-Type": OCI_MANIFEST},
    )


def _history(client: httpx.Client, name: str, tag: str) -> list[str]:
    response = client.get(f"/v2/{name}/_chainguard/history/{tag}")
    if response.status_code == 404:
        return []
    assert response.status_code == 200, response.text
    return [record["digest"] for record in response.json()["history"]]


def test_push_by_digest_sets_every_tag(client: httpx.Client) -> None:
    name = repo("tags")
    before = push_image(client, name, "latest")
    body = _image(client, name)
    digest = sha256(body)
    response = _put(client, name, digest, body, "1.2.3", "1.2", "latest")
    assert response.status_code == 201, response.text
    assert response.headers.get_list("oci-tag") == ["1.2.3", "1.2", "latest"]
    assert response.headers["docker-content-digest"] == digest
    for tag in ("1.2.3", "1.2", "latest"):
        got = client.get(f"/v2/{name}/manifests/{tag}")
        assert got.status_code == 200 and got.content == body
    assert client.get(f"/v2/{name}/tags/list").json()["tags"] == ["1.2", "1.2.3", "latest"]
    assert _history(client, name, "1.2.3") == [digest]
    assert _history(client, name, "1.2") == [digest]
    assert _history(client, name, "latest") == [before.digest, digest]


def test_a_repeated_tag_is_set_and_confirmed_once(client: httpx.Client) -> None:
    name = repo("tags")
    body = _image(client, name)
    response = _put(client, name, sha256(body), body, "a", "b", "a")
    assert response.status_code == 201, response.text
    assert response.headers.get_list("oci-tag") == ["a", "b"]
    assert _history(client, name, "a") == [sha256(body)]
    # Pushed again: the tags already point there, nothing moves, each is still confirmed.
    again = _put(client, name, sha256(body), body, "b", "a")
    assert again.headers.get_list("oci-tag") == ["b", "a"]
    assert _history(client, name, "a") == [sha256(body)]


def test_push_by_digest_without_tags_confirms_none(client: httpx.Client) -> None:
    name = repo("tags")
    body = _image(client, name)
    response = _put(client, name, sha256(body), body)
    assert response.status_code == 201, response.text
    assert "oci-tag" not in response.headers
    assert client.get(f"/v2/{name}/tags/list").json()["tags"] == []


def test_one_invalid_tag_refuses_the_whole_push(client: httpx.Client) -> None:
    name = repo("tags")
    push_image(client, name, "kept")
    body = _image(client, name)
    for bad in ("-dash", "", "a" * 129, "has+plus"):
        response = _put(client, name, sha256(body), body, "good", bad)
        assert_oci_error(response, 400, "TAG_INVALID")
        assert "oci-tag" not in response.headers
    assert_oci_error(client.get(f"/v2/{name}/manifests/{sha256(body)}"), 404, "MANIFEST_UNKNOWN")
    assert client.get(f"/v2/{name}/tags/list").json()["tags"] == ["kept"]
    assert _history(client, name, "good") == []


def test_a_refused_manifest_sets_none_of_its_tags(client: httpx.Client) -> None:
    name = repo("tags")
    push_image(client, name, "kept")
    body = image_manifest(random_bytes())  # its config was never pushed
    response = _put(client, name, sha256(body), body, "x", "y")
    assert_oci_error(response, 400, "MANIFEST_BLOB_UNKNOWN")
    assert client.get(f"/v2/{name}/tags/list").json()["tags"] == ["kept"]
    assert _history(client, name, "x") == [] and _history(client, name, "y") == []


def test_tag_parameters_need_a_push_by_digest(client: httpx.Client) -> None:
    name = repo("tags")
    push_image(client, name, "kept")
    body = _image(client, name)
    response = _put(client, name, "v1", body, "also")
    assert_oci_error(response, 400, "TAG_INVALID")
    assert client.get(f"/v2/{name}/tags/list").json()["tags"] == ["kept"]
    assert_oci_error(client.get(f"/v2/{name}/manifests/{sha256(body)}"), 404, "MANIFEST_UNKNOWN")


def test_at_most_a_hundred_tags_a_push(client: httpx.Client) -> None:
    name = repo("tags")
    body = _image(client, name)
    many = [f"t{n}" for n in range(101)]
    assert_oci_error(_put(client, name, sha256(body), body, *many), 400, "TAG_INVALID")
    assert client.get(f"/v2/{name}/tags/list").json()["tags"] == []
    response = _put(client, name, sha256(body), body, *many[:100])
    assert response.status_code == 201, response.text
    assert response.headers.get_list("oci-tag") == many[:100]
    assert len(client.get(f"/v2/{name}/tags/list").json()["tags"]) == 100
