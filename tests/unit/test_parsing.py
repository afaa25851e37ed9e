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
