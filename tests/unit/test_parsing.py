"""Manifest parsing: media types, references, and the structural checks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tagtrail.errors import ManifestInvalid
from tagtrail.registry.parsing import parse_manifest
from tagtrail.types import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST, Digest

CONFIG = {"mediaType": "application/x-anything", "digest": str(Digest.of(b"c")), "size": 1}
LAYER = {"mediaType": "application/x-whatever", "digest": str(Digest.of(b"l")), "size": 1}


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def test_image_manifest_references_and_artifact_type() -> None:
    body = encode(
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": CONFIG, "layers": [LAYER]}
    )
    manifest = parse_manifest(body, None)
    assert manifest.media_type == OCI_MANIFEST
    assert manifest.digest == Digest.of(body)
    assert [str(d) for d in manifest.blob_refs] == [CONFIG["digest"], LAYER["digest"]]
    assert manifest.artifact_type == "application/x-anything"


def test_media_type_from_header_when_field_absent() -> None:
    body = encode({"schemaVersion": 2, "config": CONFIG, "layers": []})
    assert parse_manifest(body, DOCKER_MANIFEST).media_type == DOCKER_MANIFEST


def test_index_and_subject() -> None:
    child = {"mediaType": OCI_MANIFEST, "digest": str(Digest.of(b"m")), "size": 3}
    subject = {"mediaType": OCI_MANIFEST, "digest": str(Digest.of(b"s")), "size": 3}
    body = encode(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [child], "subject": subject}
    )
    manifest = parse_manifest(body, None)
    assert [str(d) for d in manifest.manifest_refs] == [child["digest"]]
    assert manifest.subject == Digest.of(b"s")
    listed = encode({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST, "manifests": []})
    assert parse_manifest(listed, None).media_type == DOCKER_MANIFEST_LIST


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"[]",
        b"\xff\xfe",
        encode({"schemaVersion": 1, "mediaType": OCI_MANIFEST}),
        encode({"schemaVersion": 2, "mediaType": "text/plain"}),
        encode({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}),
        encode({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": CONFIG, "layers": {}}),
        encode(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"digest": "sha256:nope", "size": 1},
                "layers": [],
            }
        ),
        encode(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"digest": CONFIG["digest"], "size": -1},
                "layers": [],
            }
        ),
        encode({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{"size": 1}]}),
    ],
)
def test_invalid_manifests(body: bytes) -> None:
    with pytest.raises(ManifestInvalid):
        parse_manifest(body, OCI_MANIFEST)


def test_media_type_mismatch_between_field_and_header() -> None:
    body = encode({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": CONFIG, "layers": []})
    with pytest.raises(ManifestInvalid):
        parse_manifest(body, DOCKER_MANIFEST)


NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
URLS = ["https://mcr.microsoft.com/v2/windows/blobs/sha256:0", "http://example.com/layer"]


def image(*layers: dict[str, Any], media_type: str = OCI_MANIFEST) -> bytes:
    return encode(
        {"schemaVersion": 2, "mediaType": media_type, "config": CONFIG, "layers": list(layers)}
    )


def layer(data: bytes, media_type: str, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": str(Digest.of(data)), "size": 1, **extra}


@pytest.mark.parametrize(
    ("media_type", "layer_type"),
    [
        (OCI_MANIFEST, NONDISTRIBUTABLE),
        (OCI_MANIFEST, "application/vnd.oci.image.layer.nondistributable.v1.tar"),
        (OCI_MANIFEST, "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"),
        (DOCKER_MANIFEST, DOCKER_FOREIGN),
    ],
)
def test_nondistributable_layers_with_urls_are_foreign(media_type: str, layer_type: str) -> None:
    foreign = layer(b"f", layer_type, urls=URLS)
    manifest = parse_manifest(image(LAYER, foreign, media_type=media_type), None)
    assert manifest.foreign_refs == (Digest.of(b"f"),)
    # Still a reference: gc keeps a pushed copy, and a blob DELETE sees it referenced.
    assert manifest.blob_refs == (Digest.of(b"c"), Digest.of(b"l"), Digest.of(b"f"))


@pytest.mark.parametrize(
    "candidate",
    [
        layer(b"f", NONDISTRIBUTABLE),  # no urls: it must be pushed
        layer(b"f", NONDISTRIBUTABLE, urls=[]),
        layer(b"f", NONDISTRIBUTABLE, urls=["file:///etc/passwd"]),  # not fetchable
        layer(b"f", NONDISTRIBUTABLE, urls=[URLS[0], "ftp://example.com/x"]),
        layer(b"f", NONDISTRIBUTABLE, urls=["https://"]),
        layer(b"f", "application/vnd.oci.image.layer.v1.tar+gzip", urls=URLS),  # distributable
    ],
)
def test_other_layers_are_not_foreign(candidate: dict[str, Any]) -> None:
    manifest = parse_manifest(image(candidate), None)
    assert manifest.foreign_refs == ()
    assert Digest.of(b"f") in manifest.blob_refs


def test_a_digest_also_named_as_an_ordinary_layer_is_not_foreign() -> None:
    foreign = layer(b"f", NONDISTRIBUTABLE, urls=URLS)
    ordinary = layer(b"f", "application/vnd.oci.image.layer.v1.tar")
    assert parse_manifest(image(foreign, ordinary), None).foreign_refs == ()
    assert parse_manifest(image(foreign, foreign), None).foreign_refs == (Digest.of(b"f"),)


@pytest.mark.parametrize("urls", ["https://example.com/x", [1], {"a": "b"}])
def test_urls_must_be_a_list_of_strings(urls: object) -> None:
    with pytest.raises(ManifestInvalid):
        parse_manifest(image(layer(b"f", NONDISTRIBUTABLE, urls=urls)), None)
