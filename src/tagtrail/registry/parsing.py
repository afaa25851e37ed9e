"""Manifest parsing and structural validation (no I/O)."""

from __future__ import annotations

import json
from typing import Any

from tagtrail.errors import ManifestInvalid
from tagtrail.types import (
    IMAGE_MANIFEST_TYPES,
    INDEX_MANIFEST_TYPES,
    MANIFEST_MEDIA_TYPES,
    OCI_MANIFEST,
    Digest,
    Manifest,
)


def _descriptor(value: Any, where: str) -> Digest:
    if not isinstance(value, dict):
        raise ManifestInvalid(f"{where} is not a descriptor")
    digest = value.get("digest")
    size = value.get("size")
    if not isinstance(digest, str):
        raise ManifestInvalid(f"{where} has no digest")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestInvalid(f"{where} has no valid size")
    media_type = value.get("mediaType")
    if media_type is not None and not isinstance(media_type, str):
        raise ManifestInvalid(f"{where} has an invalid mediaType")
    try:
        return Digest.parse(digest)
    except Exception as exc:
        raise ManifestInvalid(f"{where} has an invalid digest", detail={"digest": digest}) from exc


def _text(value: str, where: str) -> str:
    """A string we store must be valid Unicode: JSON escapes can smuggle lone surrogates."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ManifestInvalid(f"{where} is not valid Unicode") from exc
    return value


def parse_manifest(content: bytes, content_type: str | None, algorithm: str = "sha256") -> Manifest:
    """Parse a manifest body; the media type comes from ``mediaType``, else the header."""
    try:
        document = json.loads(content)
    # ValueError covers bad UTF-8, bad JSON and integers too long to convert.
    except (ValueError, RecursionError) as exc:
        raise ManifestInvalid("manifest is not valid JSON") from exc
    if not isinstance(document, dict):
        raise ManifestInvalid("manifest is not a JSON object")
    if document.get("schemaVersion") != 2:
        raise ManifestInvalid("unsupported schemaVersion: only 2 is accepted")

    declared = document.get("mediaType")
    header = (content_type or "").split(";")[0].strip() or None
    if declared is not None and not isinstance(declared, str):
        raise ManifestInvalid("mediaType is not a string")
    if declared and header and header in MANIFEST_MEDIA_TYPES and declared != header:
        raise ManifestInvalid(
            "mediaType does not match Content-Type",
            detail={"mediaType": declared, "Content-Type": header},
        )
    media_type = declared or header
    if media_type is None and "layers" in document:
        media_type = OCI_MANIFEST  # OCI allows omitting mediaType; layers make it an image
    if media_type not in MANIFEST_MEDIA_TYPES:
        raise ManifestInvalid("unsupported manifest media type", detail={"mediaType": media_type})

    blob_refs: list[Digest] = []
    manifest_refs: list[Digest] = []
    artifact_type = document.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ManifestInvalid("artifactType is not a string")
    if media_type in IMAGE_MANIFEST_TYPES:
        config = document.get("config")
        blob_refs.append(_descriptor(config, "config"))
        layers = document.get("layers")
        if not isinstance(layers, list):
            raise ManifestInvalid("layers is not a list")
        blob_refs.extend(_descriptor(layer, f"layers[{i}]") for i, layer in enumerate(layers))
        if artifact_type is None and isinstance(config, dict):
            config_type = config.get("mediaType")
            artifact_type = config_type if isinstance(config_type, str) else None
    else:
        assert media_type in INDEX_MANIFEST_TYPES
        children = document.get("manifests")
        if not isinstance(children, list):
            raise ManifestInvalid("manifests is not a list")
        manifest_refs.extend(
            _descriptor(child, f"manifests[{i}]") for i, child in enumerate(children)
        )

    subject = None
    if "subject" in document:
        subject = _descriptor(document["subject"], "subject")
    annotations = document.get("annotations")
    if annotations is not None and not (
        isinstance(annotations, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in annotations.items())
    ):
        raise ManifestInvalid("annotations must map strings to strings")

    if artifact_type is not None:
        artifact_type = _text(artifact_type, "artifactType")
    return Manifest(
        digest=Digest.of(content, algorithm),
        media_type=media_type,
        content=content,
        blob_refs=tuple(blob_refs),
        manifest_refs=tuple(manifest_refs),
        subject=subject,
        artifact_type=artifact_type,
        annotations_json=json.dumps(annotations, sort_keys=True) if annotations else None,
    )
