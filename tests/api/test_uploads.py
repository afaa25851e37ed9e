"""Blob uploads: monolithic, POST+PUT, streamed and chunked PATCH, status, cancel, mount."""

from __future__ import annotations

import httpx
import pytest

from tests.api.helpers import (
    assert_oci_error,
    digest_of,
    push_blob,
    random_bytes,
    repo,
    sha256,
    start_upload,
    with_params,
)

ALGORITHMS = ["sha256", "sha512"]


def assert_blob(client: httpx.Client, name: str, digest: str, data: bytes) -> None:
    response = client.get(f"/v2/{name}/blobs/{digest}")
    assert response.status_code == 200, response.text
    assert response.headers["docker-content-digest"] == digest
    assert response.content == data


def assert_created(response: httpx.Response, name: str, digest: str) -> None:
    assert response.status_code == 201, response.text
    assert response.headers["docker-content-digest"] == digest
    location = response.headers.get("location")
    assert location, response.headers
    assert httpx.URL(location).path == f"/v2/{name}/blobs/{digest}"


def assert_blob_absent(client: httpx.Client, name: str, *digests: str) -> None:
    for digest in digests:
        assert_oci_error(client.get(f"/v2/{name}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
        assert client.head(f"/v2/{name}/blobs/{digest}").status_code == 404


def upload_range(client: httpx.Client, location: str) -> str:
    status = client.get(location)
    assert status.status_code == 204, status.text
    assert status.headers.get("location"), status.headers
    return status.headers["range"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_monolithic_post(client: httpx.Client, algorithm: str) -> None:
    name, data = repo("up"), random_bytes(1000)
    digest = digest_of(data, algorithm)
    response = client.post(f"/v2/{name}/blobs/uploads/", params={"digest": digest}, content=data)
    assert_created(response, name, digest)
    assert_blob(client, name, digest, data)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_post_then_put_whole_body(client: httpx.Client, algorithm: str) -> None:
    name, data = repo("up"), random_bytes(5000)
    digest = digest_of(data, algorithm)
    response = client.post(f"/v2/{name}/blobs/uploads/")
    assert response.status_code == 202, response.text
    location = response.headers["location"]
    put = client.put(with_params(location, {"digest": digest}), content=data)
    assert_created(put, name, digest)
    assert_blob(client, name, digest, data)


def test_empty_blob(client: httpx.Client) -> None:
    name = repo("up")
    digest = push_blob(client, name, b"")
    response = client.get(f"/v2/{name}/blobs/{digest}")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "0"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_streamed_patches_append(served_client: httpx.Client, algorithm: str) -> None:
    client = served_client  # PATCH bodies as the server receives them
    name = repo("up")
    parts = [random_bytes(10), random_bytes(1), random_bytes(4096), random_bytes(7)]
    data = b"".join(parts)
    location = start_upload(client, name)
    written = 0
    for part in parts:
        response = client.patch(location, content=part)
        assert response.status_code == 202, response.text
        written += len(part)
        assert response.headers["range"] == f"0-{written - 1}"
        assert response.headers.get("location"), response.headers
        location = response.headers["location"]
        assert upload_range(client, location) == f"0-{written - 1}"
    digest = digest_of(data, algorithm)
    put = client.put(with_params(location, {"digest": digest}))
    assert_created(put, name, digest)
    assert_blob(client, name, digest, data)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_chunked_patches_with_content_range(client: httpx.Client, algorithm: str) -> None:
    name = repo("up")
    chunks = [random_bytes(100), random_bytes(50), random_bytes(1)]
    data = b"".join(chunks)
    location = start_upload(client, name)
    offset = 0
    for chunk in chunks:
        last = offset + len(chunk) - 1
        response = client.patch(
            location,
            content=chunk,
            headers={
                "Content-Range": f"{offset}-{last}",
                "Content-Type": "application/octet-stream",
            },
        )
        assert response.status_code == 202, response.text
        assert response.headers["range"] == f"0-{last}"
        location = response.headers["location"]
        offset = last + 1
    digest = digest_of(data, algorithm)
    assert_created(client.put(with_params(location, {"digest": digest})), name, digest)
    assert_blob(client, name, digest, data)


def test_out_of_order_chunks_are_416(client: httpx.Client) -> None:
    name = repo("up")
    first, second = random_bytes(10), random_bytes(10)
    location = start_upload(client, name)
    response = client.patch(location, content=first, headers={"Content-Range": "0-9"})
    assert response.status_code == 202, response.text
    location = response.headers["location"]

    # A gap: the next chunk must start at 10.
    gap = client.patch(location, content=second, headers={"Content-Range": "11-20"})
    assert_oci_error(gap, 416)
    # A repeated range.
    repeat = client.patch(location, content=first, headers={"Content-Range": "0-9"})
    assert_oci_error(repeat, 416)
    # Overlapping the end.
    overlap = client.patch(location, content=second, headers={"Content-Range": "5-14"})
    assert_oci_error(overlap, 416)

    # None of them changed the upload: it continues where it was.
    assert upload_range(client, location) == "0-9"
    response = client.patch(location, content=second, headers={"Content-Range": "10-19"})
    assert response.status_code == 202, response.text
    data = first + second
    put = client.put(with_params(response.headers["location"], {"digest": sha256(data)}))
    assert_created(put, name, sha256(data))
    assert_blob(client, name, sha256(data), data)


def test_first_chunk_must_start_at_zero(client: httpx.Client) -> None:
    location = start_upload(client, repo("up"))
    response = client.patch(location, content=b"abc", headers={"Content-Range": "1-3"})
    assert_oci_error(response, 416)


def test_final_chunk_in_put_body(client: httpx.Client) -> None:
    name = repo("up")
    head, tail = random_bytes(300), random_bytes(200)
    location = start_upload(client, name)
    response = client.patch(location, content=head, headers={"Content-Range": "0-299"})
    assert response.status_code == 202, response.text
    data = head + tail
    put = client.put(
        with_params(response.headers["location"], {"digest": sha256(data)}),
        content=tail,
        headers={"Content-Range": "300-499"},
    )
    assert_created(put, name, sha256(data))
    assert_blob(client, name, sha256(data), data)


def test_out_of_order_final_chunk_in_put_is_416(client: httpx.Client) -> None:
    """The closing PUT's final chunk is a chunk like any other: out of order, it is 416."""
    name = repo("up")
    head, tail = random_bytes(300), random_bytes(200)
    location = start_upload(client, name)
    response = client.patch(location, content=head, headers={"Content-Range": "0-299"})
    assert response.status_code == 202, response.text
    location = response.headers["location"]
    data = head + tail
    for bad_range in ("400-599", "0-199"):  # a gap; a repeated range
        put = client.put(
            with_params(location, {"digest": sha256(data)}),
            content=tail,
            headers={"Content-Range": bad_range},
        )
        assert_oci_error(put, 416)
        assert_blob_absent(client, name, sha256(data))


def test_upload_status(client: httpx.Client) -> None:
    name = repo("up")
    location = start_upload(client, name)
    status = client.get(location)
    assert status.status_code == 204
    assert status.headers.get("location")
    assert status.headers["range"] in ("0-0", "0--1")  # nothing written yet
    response = client.patch(location, content=b"12345")
    assert response.status_code == 202
    status = client.get(response.headers["location"])
    assert status.status_code == 204
    assert status.headers["range"] == "0-4"
    assert status.headers.get("location")


def test_cancel_upload(client: httpx.Client) -> None:
    name = repo("up")
    data = random_bytes(20)
    location = start_upload(client, name)
    assert client.patch(location, content=data).status_code == 202
    response = client.delete(location)
    assert response.status_code == 204, response.text
    assert_oci_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_oci_error(client.patch(location, content=b"x"), 404, "BLOB_UPLOAD_UNKNOWN")
    put = client.put(with_params(location, {"digest": sha256(data)}))
    assert_oci_error(put, 404, "BLOB_UPLOAD_UNKNOWN")
    assert_oci_error(client.delete(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_blob_absent(client, name, sha256(data))


def test_unknown_upload_id(client: httpx.Client) -> None:
    name = repo("up")
    start_upload(client, name)
    unknown = f"/v2/{name}/blobs/uploads/{'0' * 32}"
    assert_oci_error(client.get(unknown), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_oci_error(client.patch(unknown, content=b"x"), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_oci_error(client.delete(unknown), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_oci_error(client.get(f"/v2/{name}/blobs/uploads/not-an-id"), 404, "BLOB_UPLOAD_UNKNOWN")


def test_upload_session_belongs_to_its_repository(client: httpx.Client) -> None:
    name, other = repo("up"), repo("up")
    start_upload(client, other)  # the other repository exists
    location = start_upload(client, name)
    upload_id = httpx.URL(location).path.rsplit("/", 1)[1]
    foreign = f"/v2/{other}/blobs/uploads/{upload_id}"
    data = random_bytes(10)
    assert_oci_error(client.get(foreign), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_oci_error(client.patch(foreign, content=data), 404, "BLOB_UPLOAD_UNKNOWN")
    put = client.put(foreign, params={"digest": sha256(data)}, content=data)
    assert_oci_error(put, 404, "BLOB_UPLOAD_UNKNOWN")
    assert_blob_absent(client, other, sha256(data))
    # The session itself is untouched.
    assert upload_range(client, location) in ("0-0", "0--1")


def test_wrong_digest_on_put_is_rejected_and_nothing_visible(client: httpx.Client) -> None:
    name = repo("up")
    data = random_bytes(64)
    claimed = sha256(random_bytes(64))
    location = start_upload(client, name)
    response = client.patch(location, content=data)
    assert response.status_code == 202
    put = client.put(with_params(response.headers["location"], {"digest": claimed}))
    assert_oci_error(put, 400, "DIGEST_INVALID")
    assert_blob_absent(client, name, claimed, sha256(data))


def test_wrong_digest_on_put_with_body_is_rejected(client: httpx.Client) -> None:
    name = repo("up")
    data = random_bytes(64)
    claimed = digest_of(random_bytes(64), "sha512")
    location = start_upload(client, name)
    put = client.put(with_params(location, {"digest": claimed}), content=data)
    assert_oci_error(put, 400, "DIGEST_INVALID")
    assert_blob_absent(client, name, claimed, sha256(data), digest_of(data, "sha512"))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_wrong_digest_on_monolithic_post_is_digest_invalid(
    client: httpx.Client, algorithm: str
) -> None:
    name = repo("up")
    data = random_bytes(64)
    claimed = digest_of(random_bytes(64), algorithm)
    response = client.post(f"/v2/{name}/blobs/uploads/", params={"digest": claimed}, content=data)
    assert_oci_error(response, 400, "DIGEST_INVALID")
    assert_blob_absent(client, name, claimed, digest_of(data, algorithm))


def test_digest_is_required_to_complete(client: httpx.Client) -> None:
    name = repo("up")
    data = random_bytes(10)
    location = start_upload(client, name)
    put = client.put(location, content=data)
    assert_oci_error(put, 400, ("DIGEST_INVALID", "BLOB_UPLOAD_INVALID"))
    assert_blob_absent(client, name, sha256(data))


def test_completed_session_is_gone(client: httpx.Client) -> None:
    name = repo("up")
    data = random_bytes(10)
    location = start_upload(client, name)
    put = client.put(with_params(location, {"digest": sha256(data)}), content=data)
    assert put.status_code == 201
    assert_oci_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")


def test_mount_from_repository_with_the_blob(client: httpx.Client) -> None:
    source, target = repo("mount"), repo("mount")
    data = random_bytes(123)
    digest = push_blob(client, source, data)
    response = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": source})
    assert_created(response, target, digest)
    assert_blob(client, target, digest, data)


def test_mount_sha512_blob(client: httpx.Client) -> None:
    source, target = repo("mount"), repo("mount")
    data = random_bytes(123)
    digest = push_blob(client, source, data, "sha512")
    response = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": source})
    assert_created(response, target, digest)
    assert_blob(client, target, digest, data)


def test_mount_falls_back_to_upload_when_source_lacks_blob(client: httpx.Client) -> None:
    source, target, owner = repo("mount"), repo("mount"), repo("mount")
    data = random_bytes(99)
    digest = push_blob(client, owner, data)  # stored, but not in ``source``
    push_blob(client, source, random_bytes())
    response = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": source})
    assert response.status_code == 202, response.text
    location = response.headers.get("location")
    assert location
    assert_blob_absent(client, target, digest)
    # The fallback session is a real upload session.
    put = client.put(with_params(location, {"digest": digest}), content=data)
    assert_created(put, target, digest)
    assert_blob(client, target, digest, data)


def test_mount_from_unknown_repository_falls_back(client: httpx.Client) -> None:
    target = repo("mount")
    data = random_bytes(99)
    digest = push_blob(client, repo("mount"), data)
    response = client.post(
        f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": repo("mount")}
    )
    assert response.status_code == 202, response.text
    assert response.headers.get("location")
    assert_blob_absent(client, target, digest)


def test_mount_without_from_falls_back(client: httpx.Client) -> None:
    source, target = repo("mount"), repo("mount")
    data = random_bytes(99)
    digest = push_blob(client, source, data)
    response = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest})
    assert response.status_code == 202, response.text
    location = response.headers.get("location")
    assert location
    assert_blob_absent(client, target, digest)
    assert upload_range(client, location) in ("0-0", "0--1")


def test_mount_of_deleted_blob_falls_back(client: httpx.Client) -> None:
    source, target = repo("mount"), repo("mount")
    digest = push_blob(client, source, random_bytes())
    assert client.delete(f"/v2/{source}/blobs/{digest}").status_code == 202
    response = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": source})
    assert response.status_code == 202, response.text
    assert_blob_absent(client, target, digest)
