"""Helpers for the HTTP conformance tests: digests, pushes, OCI error checks, raw requests."""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

TIMESTAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
_LINK_RE = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')


# -- names and digests ----------------------------------------------------------------------


def repo(prefix: str = "conf") -> str:
    """A repository name no other test uses (the session server is shared)."""
    return f"{prefix}/{uuid.uuid4().hex[:16]}"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def digest_of(data: bytes, algorithm: str) -> str:
    return f"{algorithm}:" + hashlib.new(algorithm, data).hexdigest()


def random_bytes(size: int = 64) -> bytes:
    """Content no other test pushes (so a blob is only where this test put it)."""
    seed = uuid.uuid4().bytes
    out = bytearray()
    while len(out) < size:
        seed = hashlib.sha256(seed).digest()
        out += seed
    return bytes(out[:size])


# -- responses ------------------------------------------------------------------------------


def assert_oci_error(
    response: httpx.Response, status: int, codes: str | Iterable[str] | None = None
) -> dict[str, Any]:
    """The response is ``status`` with the OCI error body; returns its first error."""
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url}: expected {status}, "
        f"got {response.status_code}: {response.text[:500]}"
    )
    if response.request.method == "HEAD":
        return {}
    body = response.json()
    assert isinstance(body, dict), body
    assert set(body) == {"errors"}, body
    errors = body["errors"]
    assert isinstance(errors, list), body
    assert errors, body
    for error in errors:
        assert isinstance(error, dict), body
        assert {"code", "message", "detail"} <= set(error), body
        assert isinstance(error["code"], str), body
        assert isinstance(error["message"], str), body
    first: dict[str, Any] = errors[0]
    if codes is not None:
        wanted = {codes} if isinstance(codes, str) else set(codes)
        assert first["code"] in wanted, f"expected code in {sorted(wanted)}, got {body}"
    return first


def assert_not_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, (
        f"{response.request.method} {response.request.url}: "
        f"{response.status_code} {response.text[:500]}"
    )


def next_link(response: httpx.Response) -> str | None:
    """The target of a ``Link: <...>; rel="next"`` header, or None."""
    header = response.headers.get("link")
    if header is None:
        return None
    match = _LINK_RE.search(header)
    assert match, f"malformed Link header: {header!r}"
    return match.group(1)


def with_params(location: str, params: Mapping[str, str]) -> httpx.URL:
    """``location`` (as the server sent it, query kept) with extra query parameters."""
    return httpx.URL(location).copy_merge_params(dict(params))


# -- pushing --------------------------------------------------------------------------------


def push_blob(client: httpx.Client, name: str, data: bytes, algorithm: str = "sha256") -> str:
    """Monolithic POST ?digest=; returns the digest."""
    digest = digest_of(data, algorithm)
    response = client.post(f"/v2/{name}/blobs/uploads/", params={"digest": digest}, content=data)
    assert response.status_code == 201, response.text
    assert response.headers["docker-content-digest"] == digest
    return digest


def start_upload(client: httpx.Client, name: str) -> str:
    """POST a new upload session; returns its Location."""
    response = client.post(f"/v2/{name}/blobs/uploads/")
    assert response.status_code == 202, response.text
    location: str | None = response.headers.get("location")
    assert location, response.headers
    return location


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


def encode(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True)
class Pushed:
    """A pushed manifest: its bytes, digest and media type."""

    body: bytes
    digest: str
    media_type: str


def put_manifest(
    client: httpx.Client,
    name: str,
    reference: str,
    body: bytes,
    media_type: str | None = OCI_MANIFEST,
) -> httpx.Response:
    headers = {"Content-Type": media_type} if media_type else {}
    return client.put(f"/v2/{name}/manifests/{reference}", content=body, headers=headers)


def push_manifest(
    client: httpx.Client,
    name: str,
    reference: str,
    body: bytes,
    media_type: str = OCI_MANIFEST,
) -> Pushed:
    response = put_manifest(client, name, reference, body, media_type)
    assert response.status_code == 201, response.text
    digest = sha256(body) if not reference.startswith("sha512:") else sha512(body)
    assert response.headers["docker-content-digest"] == digest
    return Pushed(body, digest, media_type)


def image_manifest(
    config: bytes,
    layers: Iterable[bytes] = (),
    *,
    media_type: str = OCI_MANIFEST,
    config_type: str = OCI_CONFIG,
    layer_type: str = OCI_LAYER,
    annotations: Mapping[str, str] | None = None,
    subject: Mapping[str, Any] | None = None,
    artifact_type: str | None = None,
    include_media_type: bool = True,
) -> bytes:
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "config": descriptor(config_type, config),
        "layers": [descriptor(layer_type, layer) for layer in layers],
    }
    if include_media_type:
        document["mediaType"] = media_type
    if annotations:
        document["annotations"] = dict(annotations)
    if subject is not None:
        document["subject"] = dict(subject)
    if artifact_type is not None:
        document["artifactType"] = artifact_type
    return encode(document)


def index_manifest(
    children: Iterable[Pushed],
    *,
    media_type: str = OCI_INDEX,
    annotations: Mapping[str, str] | None = None,
) -> bytes:
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [
            {
                "mediaType": child.media_type,
                "digest": child.digest,
                "size": len(child.body),
                "platform": {"architecture": "amd64", "os": "linux"},
            }
            for child in children
        ],
    }
    if annotations:
        document["annotations"] = dict(annotations)
    return encode(document)


def push_image(
    client: httpx.Client,
    name: str,
    reference: str | None = None,
    *,
    media_type: str = OCI_MANIFEST,
    annotations: Mapping[str, str] | None = None,
    layers: int = 1,
) -> Pushed:
    """Push a config, ``layers`` layers and an image manifest (by ``reference`` or digest)."""
    docker = media_type == DOCKER_MANIFEST
    config = random_bytes(40)
    push_blob(client, name, config)
    contents = [random_bytes(100) for _ in range(layers)]
    for layer in contents:
        push_blob(client, name, layer)
    body = image_manifest(
        config,
        contents,
        media_type=media_type,
        config_type=DOCKER_CONFIG if docker else OCI_CONFIG,
        layer_type=DOCKER_LAYER if docker else OCI_LAYER,
        annotations=annotations,
    )
    return push_manifest(client, name, reference or sha256(body), body, media_type)


# -- raw requests (no client-side path normalisation) ---------------------------------------


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def raw_request(host: str, method: str, raw_path: str, body: bytes | None = None) -> RawResponse:
    """Send ``raw_path`` byte for byte: neither ``..`` nor percent escapes are touched."""
    address, _, port = host.rpartition(":")
    connection = http.client.HTTPConnection(address, int(port), timeout=30)
    try:
        connection.putrequest(method, raw_path, skip_accept_encoding=True)
        connection.putheader("Content-Length", str(len(body or b"")))
        connection.endheaders(body)
        response = connection.getresponse()
        headers = {key.lower(): value for key, value in response.getheaders()}
        return RawResponse(response.status, headers, response.read())
    finally:
        connection.close()


def assert_raw_oci_error(response: RawResponse) -> None:
    """A 4xx with an OCI error body."""
    assert 400 <= response.status < 500, (response.status, response.body[:300])
    document = response.json()
    assert isinstance(document, dict), document
    assert isinstance(document.get("errors"), list), document
    assert document["errors"], document
    for error in document["errors"]:
        assert {"code", "message", "detail"} <= set(error), document
