"""What the pages show, computed from stored values: manifest summaries, sizes, durations."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tagtrail.times import format_timestamp
from tagtrail.types import INDEX_MANIFEST_TYPES


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: str = ""
    artifact_type: str = ""


@dataclass(frozen=True, slots=True)
class ManifestView:
    """The parts of a manifest the pages show; unknown or malformed parts are left out."""

    kind: str  # "image", "index" or "other"
    pretty: str
    config: Descriptor | None = None
    layers: list[Descriptor] = field(default_factory=list)
    children: list[Descriptor] = field(default_factory=list)
    annotations: list[tuple[str, str]] = field(default_factory=list)
    artifact_type: str = ""

    @property
    def platforms(self) -> list[str]:
        return [child.platform for child in self.children if child.platform]


def _descriptor(raw: object) -> Descriptor | None:
    if not isinstance(raw, dict):
        return None
    size = raw.get("size")
    platform = raw.get("platform")
    return Descriptor(
        media_type=str(raw.get("mediaType", "")),
        digest=str(raw.get("digest", "")),
        size=size if isinstance(size, int) else 0,
        platform=platform_name(platform) if isinstance(platform, dict) else "",
        artifact_type=str(raw.get("artifactType", "")),
    )


def platform_name(platform: dict[str, Any]) -> str:
    parts = [str(platform.get(key, "")) for key in ("os", "architecture", "variant")]
    return "/".join(part for part in parts if part)


def describe(media_type: str, content: bytes) -> ManifestView:
    try:
        document = json.loads(content)
    except ValueError:
        return ManifestView("other", content.decode(errors="replace"))
    pretty = json.dumps(document, indent=2, ensure_ascii=False)
    if not isinstance(document, dict):
        return ManifestView("other", pretty)
    annotations = document.get("annotations")
    pairs = (
        [(str(k), str(v)) for k, v in annotations.items()] if isinstance(annotations, dict) else []
    )
    artifact_type = str(document.get("artifactType", ""))
    if media_type in INDEX_MANIFEST_TYPES or "manifests" in document:
        children = document.get("manifests")
        found = [_descriptor(c) for c in children] if isinstance(children, list) else []
        return ManifestView(
            "index",
            pretty,
            children=[c for c in found if c is not None],
            annotations=pairs,
            artifact_type=artifact_type,
        )
    layers = document.get("layers")
    found = [_descriptor(layer) for layer in layers] if isinstance(layers, list) else []
    return ManifestView(
        "image",
        pretty,
        config=_descriptor(document.get("config")),
        layers=[layer for layer in found if layer is not None],
        annotations=pairs,
        artifact_type=artifact_type,
    )


def kind(media_type: str) -> str:
    """ "index" or "image" by media type ("image" too for artifacts, which are manifests); "—"
    for none: a record imported from an upstream's history names a manifest never fetched."""
    if not media_type:
        return "—"
    return "index" if media_type in INDEX_MANIFEST_TYPES else "image"


def human_size(size: int | None) -> str:
    if size is None:
        return "—"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def human_duration(millis: int | None) -> str:
    if millis is None:
        return "—"
    if millis < 1000:
        return f"{millis} ms"
    seconds = millis // 1000
    units = (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1))
    parts: list[str] = []
    for name, length in units:
        amount, seconds = divmod(seconds, length)
        if amount or parts:
            parts.append(f"{amount}{name}")
        if len(parts) == 2:
            break
    return " ".join(part for part in parts if not part.startswith("0")) or "0s"


def timestamp(millis: int | None) -> str:
    return "—" if millis is None else format_timestamp(millis)
