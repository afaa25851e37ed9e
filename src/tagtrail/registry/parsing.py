"""Manifest parsing and structural validation (no I/O)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from tagtrail.errors import ManifestInvalid
from tagtrail.types import (
    IMAGE_MANIFEST_TYPES,
    INDEX_MANIFEST_TYPES,
    MANIFEST_MEDIA_TYPES,
    OCI_MANIFEST,
    Digest,
    Manifest,
)

# Layers whose bytes may be kept out of registries (licence terms: Windows base layers). With
# ``urls`` a client fetches them from there, so a manifest may name them unpushed.
_NONDISTRIBUTABLE_PREFIX = "application/vnd.oci.image.layer.nondistributable."
_DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"


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
    urls = value.get("urls")
    if urls is not None and not (isinstance(urls, list) and all(isinstance(u, str) for u in urls)):
        raise ManifestInvalid(f"{where} has urls that are not a list of strings")
    try:
        return Digest.parse(digest)
    except Exception as exc:
        raise ManifestInvalid(f"{where} has an invalid digest", detail={"digest": digest}) from exc


def _is_foreign(layer: dict[str, Any]) -> bool:
    """A non-distributable layer with URLs a client can fetch it from (http or https only: a
    client is told to go there)."""
    media_type = layer.get("mediaType") or ""
    if not (media_type.startswith(_NONDISTRIBUTABLE_PREFIX) or media_type == _DOCKER_FOREIGN):
        return False
    urls = layer.get("urls") or []
    return bool(urls) and all(_fetchable(url) for url in urls)


def _fetchable(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


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
    foreign_refs: list[Digest] = []
    artifact_type = document.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ManifestInvalid("artifactType is not a string")
    if media_type in IMAGE_MANIFEST_TYPES:
        config = document.get("config")
        blob_refs.append(_descriptor(config, "config"))
        layers = document.get("layers")
        if not isinstance(layers, list):
            raise ManifestInvalid("layers is not a list")
        ordinary = {blob_refs[0]}
        for i, layer in enumerate(layers):
            digest = _descriptor(layer, f"layers[{i}]")
            blob_refs.append(digest)
            if _is_foreign(layer):
                foreign_refs.append(digest)
            else:
                ordinary.add(digest)
        # A digest also named as the config or as an ordinary layer must be here all the same.
        foreign_refs = [d for d in dict.fromkeys(foreign_refs) if d not in ordinary]
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
        foreign_refs=tuple(foreign_refs),
    )
