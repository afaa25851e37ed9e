"""Manifests over the standard distribution API: resolve a tag, read, write, list platforms."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from tagtrail.client.errors import NotFoundError, UnexpectedResponse, error_summary
from tagtrail.client.session import RegistrySession, pull_scope, push_scope
from tagtrail.types import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    INDEX_MANIFEST_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
)

ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST))


@dataclass(frozen=True, slots=True)
class ManifestBlob:
    digest: str
    media_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class PlatformEntry:
    """One manifest of an index: ``os/architecture[/variant]``, its digest and size."""

    platform: str
    digest: str
    size: int


def _path(repository: str, reference: str) -> str:
    return f"/v2/{repository}/manifests/{reference}"


def resolve_tag(session: RegistrySession, repository: str, tag: str) -> str | None:
    """The digest ``tag`` points to now, or None when the tag (or repository) is unknown."""
    response = session.request(
        "HEAD", _path(repository, tag), scope=pull_scope(repository), headers={"Accept": ACCEPT}
    )
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise UnexpectedResponse(
            f"{session.host} answered {error_summary(response)} to HEAD {_path(repository, tag)}"
        )
    digest: str | None = response.headers.get("docker-content-digest")
    if digest:
        return digest
    return get_manifest(session, repository, tag).digest


def get_manifest(session: RegistrySession, repository: str, reference: str) -> ManifestBlob:
    path = _path(repository, reference)
    response = session.request(
        "GET", path, scope=pull_scope(repository), headers={"Accept": ACCEPT}
    )
    if response.status_code == 404:
        raise NotFoundError(
            f"{session.host}/{repository} has no manifest {reference} ({error_summary(response)})"
        )
    if response.status_code != 200:
        raise UnexpectedResponse(f"{session.host} answered {error_summary(response)} to GET {path}")
    content = response.content
    digest = response.headers.get("docker-content-digest") or (
        "sha256:" + hashlib.sha256(content).hexdigest()
    )
    media_type = response.headers.get("content-type", "").partition(";")[0].strip()
    if not media_type:
        media_type = _declared_media_type(content) or OCI_MANIFEST
    return ManifestBlob(digest, media_type, content)


def put_manifest(
    session: RegistrySession, repository: str, tag: str, manifest: ManifestBlob
) -> str:
    """PUT ``manifest`` to ``tag``; returns the digest the registry reports."""
    path = _path(repository, tag)
    response = session.request(
        "PUT",
        path,
        scope=push_scope(repository),
        headers={"Content-Type": manifest.media_type},
        content=manifest.content,
    )
    if response.status_code not in (200, 201):
        raise UnexpectedResponse(f"{session.host} answered {error_summary(response)} to PUT {path}")
    return response.headers.get("docker-content-digest") or manifest.digest


def _declared_media_type(content: bytes) -> str | None:
    try:
        document = json.loads(content)
    except ValueError:
        return None
    value = document.get("mediaType") if isinstance(document, dict) else None
    return value if isinstance(value, str) else None


def _platform_name(platform: Any) -> str:
    if not isinstance(platform, dict):
        return "unknown"
    parts = [str(platform.get("os") or "unknown"), str(platform.get("architecture") or "unknown")]
    if platform.get("variant"):
        parts.append(str(platform["variant"]))
    return "/".join(parts)


def platforms(manifest: ManifestBlob) -> list[PlatformEntry]:
    """The entries of an index or manifest list; empty for a single-image manifest."""
    declared = _declared_media_type(manifest.content)
    if manifest.media_type not in INDEX_MANIFEST_TYPES and declared not in INDEX_MANIFEST_TYPES:
        return []
    try:
        document = json.loads(manifest.content)
        entries = document["manifests"]
    except (ValueError, KeyError, TypeError) as exc:
        raise UnexpectedResponse(f"index {manifest.digest} is not a valid index") from exc
    found = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("digest"), str):
            size = entry.get("size")
            found.append(
                PlatformEntry(
                    _platform_name(entry.get("platform")),
                    entry["digest"],
                    size if isinstance(size, int) else 0,
                )
            )
    return found
