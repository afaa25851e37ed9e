"""Helpers for the end-to-end tests: running client binaries and building OCI image layouts."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shlex
import shutil
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ACCEPT_ALL = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])
REF_NAME = "org.opencontainers.image.ref.name"

# Debian package holding each client, for the failure message when one is missing.
PACKAGES = {"skopeo": "skopeo", "buildah": "buildah", "podman": "podman", "umoci": "umoci"}


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def require_binary(name: str) -> str:
    """The client's path; a missing client FAILS the test (CI must not pass without it)."""
    path = shutil.which(name)
    if path is None:
        package = PACKAGES.get(name, name)
        pytest.fail(f"{name} is not on PATH (Debian: apt-get install {package})", pytrace=False)
    return path


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def describe(
    argv: Sequence[str], code: object, stdout: str | bytes | None, stderr: str | bytes | None
) -> str:
    return (
        f"$ {shlex.join(argv)}\nexit: {code}\n"
        f"--- stdout ---\n{_text(stdout)[-6000:]}\n--- stderr ---\n{_text(stderr)[-6000:]}"
    )


def run(
    args: Sequence[str | Path],
    *,
    timeout: float = 60,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a client; on failure or timeout the test fails showing the command and its output."""
    argv = [str(arg) for arg in args]
    argv[0] = require_binary(argv[0])
    try:
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=None if env is None else dict(env),
            cwd=cwd,
        )
    except subprocess.TimeoutExpired as exc:
        message = describe(argv, f"timed out after {timeout}s", exc.stdout, exc.stderr)
        pytest.fail(message, pytrace=False)
    if check and result.returncode != 0:
        pytest.fail(describe(argv, result.returncode, result.stdout, result.stderr), pytrace=False)
    return result


# -- OCI image layouts ---------------------------------------------------------------------


@dataclass(frozen=True)
class BuiltImage:
    """What a layout holds for one image manifest (or index, then ``children`` is set)."""

    digest: str
    manifest: bytes
    media_type: str
    layer_digests: tuple[str, ...] = ()
    config_digest: str = ""
    children: tuple[BuiltImage, ...] = ()


def _put_blob(layout: Path, data: bytes) -> str:
    digest = sha256_digest(data)
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (blobs / digest.removeprefix("sha256:")).write_bytes(data)
    return digest


def _tar(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _descriptor(media_type: str, digest: str, size: int, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest, "size": size, **extra}


def _write_image(layout: Path, files: Mapping[str, bytes], architecture: str) -> BuiltImage:
    tar = _tar(files)
    layer = gzip.compress(tar, mtime=0)
    layer_digest = _put_blob(layout, layer)
    config = json.dumps(
        {
            "architecture": architecture,
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(tar)]},
        }
    ).encode()
    config_digest = _put_blob(layout, config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": _descriptor(OCI_CONFIG, config_digest, len(config)),
            "layers": [_descriptor(OCI_LAYER, layer_digest, len(layer))],
        }
    ).encode()
    return BuiltImage(
        _put_blob(layout, manifest), manifest, OCI_MANIFEST, (layer_digest,), config_digest
    )


def _tag(layout: Path, image: BuiltImage, tag: str) -> None:
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    index_path = layout / "index.json"
    index: dict[str, Any] = {"schemaVersion": 2, "manifests": []}
    if index_path.exists():
        index = json.loads(index_path.read_text())
    index["manifests"] = [
        m for m in index["manifests"] if m.get("annotations", {}).get(REF_NAME) != tag
    ]
    index["manifests"].append(
        _descriptor(
            image.media_type, image.digest, len(image.manifest), annotations={REF_NAME: tag}
        )
    )
    index_path.write_text(json.dumps(index))


def build_image(
    layout: Path, tag: str, files: Mapping[str, bytes], *, architecture: str = "amd64"
) -> BuiltImage:
    """Add a one-layer image holding ``files`` to the OCI layout ``layout`` as ``tag``."""
    image = _write_image(layout, files, architecture)
    _tag(layout, image, tag)
    return image


def build_index(
    layout: Path, tag: str, per_architecture: Mapping[str, Mapping[str, bytes]]
) -> BuiltImage:
    """Add a multi-platform image index (one image per architecture) as ``tag``."""
    children = tuple(_write_image(layout, files, arch) for arch, files in per_architecture.items())
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                _descriptor(
                    child.media_type,
                    child.digest,
                    len(child.manifest),
                    platform={"architecture": arch, "os": "linux"},
                )
                for arch, child in zip(per_architecture, children, strict=True)
            ],
        }
    ).encode()
    built = BuiltImage(_put_blob(layout, index), index, OCI_INDEX, children=children)
    _tag(layout, built, tag)
    return built


def layout_manifest_digest(layout: Path, tag: str) -> str:
    """The digest ``tag`` names in an OCI layout's index.json."""
    index = json.loads((layout / "index.json").read_text())
    for descriptor in index["manifests"]:
        if descriptor.get("annotations", {}).get(REF_NAME) == tag:
            digest: str = descriptor["digest"]
            return digest
    raise AssertionError(f"{tag} not in {layout}/index.json: {index}")


def layout_blob(layout: Path, digest: str) -> bytes:
    algorithm, _, hexpart = digest.partition(":")
    return (layout / "blobs" / algorithm / hexpart).read_bytes()


def layer_files(layer: bytes) -> dict[str, bytes]:
    """Regular files in a (gzipped or plain) tar layer, by path without a leading ./ or /."""
    data = gzip.decompress(layer) if layer[:2] == b"\x1f\x8b" else layer
    # umoci 0.4.7 (Debian) writes layers without the end-of-archive blocks: add them.
    data += bytes(1024)
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for member in archive.getmembers():
            extracted = archive.extractfile(member) if member.isfile() else None
            if extracted is not None:
                found[member.name.removeprefix("./").lstrip("/")] = extracted.read()
    return found


# -- skopeo ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Skopeo:
    """skopeo with an explicit trust policy (there may be no /etc/containers/policy.json)."""

    policy: Path

    def __call__(
        self, *args: str | Path, timeout: float = 60, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run(["skopeo", "--policy", self.policy, *args], timeout=timeout, check=check)

    def copy(self, source: str, destination: str, *flags: str) -> subprocess.CompletedProcess[str]:
        tls = [
            *(["--src-tls-verify=false"] if source.startswith("docker://") else []),
            *(["--dest-tls-verify=false"] if destination.startswith("docker://") else []),
        ]
        return self("copy", *tls, *flags, source, destination)

    def digest(self, reference: str) -> str:
        """The manifest digest, as ``skopeo inspect --format '{{.Digest}}'`` reports it."""
        result = self("inspect", "--tls-verify=false", "--format", "{{.Digest}}", reference)
        return result.stdout.strip()

    def inspect(self, reference: str, *flags: str) -> Any:
        return json.loads(self("inspect", "--tls-verify=false", *flags, reference).stdout)

    def inspect_raw(self, reference: str) -> bytes:
        """The manifest bytes exactly as served (skopeo adds no newline), to check digests."""
        return self("inspect", "--tls-verify=false", "--raw", reference).stdout.encode()
