"""buildah and podman against tagtrail, daemonless with vfs storage isolated per test:
build FROM scratch, push (OCI and Docker schema 2), pull back with buildah and podman."""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import (
    ACCEPT_ALL,
    DOCKER_MANIFEST,
    OCI_MANIFEST,
    layer_files,
    require_binary,
    run,
    sha256_digest,
)
from tests.server import RunningServer


@dataclass(frozen=True)
class Storage:
    """A private containers-storage (vfs driver, so no overlay mounts are needed)."""

    path: Path
    policy: Path

    @property
    def _storage(self) -> list[str]:
        root, runroot = self.path / "root", self.path / "run"
        return ["--root", str(root), "--runroot", str(runroot), "--storage-driver", "vfs"]

    @property
    def buildah(self) -> list[str]:
        return ["buildah", *self._storage]

    @property
    def podman(self) -> list[str]:
        tmp = str(self.path / "tmp")
        return ["podman", *self._storage, "--tmpdir", tmp, "--events-backend", "none"]


@pytest.fixture
def storage(policy_path: Path) -> Iterator[Callable[[str], Storage]]:
    """Fresh storages; under a short /tmp path as podman refuses runroots over 50 characters."""
    require_binary("buildah")
    require_binary("podman")
    base = Path(tempfile.mkdtemp(prefix="tt-e2e-"))
    yield lambda label: Storage(base / label, policy_path)
    shutil.rmtree(base, ignore_errors=True)


@dataclass(frozen=True)
class Built:
    image_id: str
    content: bytes
    label: str


def build(store: Storage, context: Path, tag: str) -> Built:
    content = f"built by buildah {secrets.token_hex(8)}\n".encode()
    label = secrets.token_hex(4)
    context.mkdir()
    (context / "hello.txt").write_bytes(content)
    (context / "Containerfile").write_text(
        f"FROM scratch\nLABEL org.example.e2e={label}\nCOPY hello.txt /hello.txt\n"
    )
    done = run([*store.buildah, "bud", "--isolation", "chroot", "-t", tag, str(context)])
    image_id = done.stdout.strip().splitlines()[-1]
    return Built(image_id, content, label)


def test_buildah_build_push_pull_and_podman_pull(
    server: RunningServer,
    storage: Callable[[str], Storage],
    repo: Callable[[str], str],
    client: httpx.Client,
    tmp_path: Path,
) -> None:
    builder = storage("build")
    built = build(builder, tmp_path / "context", "localhost/e2e-scratch:1")
    name = repo("scratch")
    reference = f"{server.host}/{name}"
    digest_file = tmp_path / "digest"
    policy = ["--signature-policy", str(builder.policy), "--tls-verify=false"]

    run([*builder.buildah, "push", *policy, "--digestfile", str(digest_file),
         "localhost/e2e-scratch:1", f"docker://{reference}:1"])  # fmt: skip
    run([*builder.buildah, "push", *policy, "--format", "v2s2",
         "localhost/e2e-scratch:1", f"docker://{reference}:docker"])  # fmt: skip

    digest = digest_file.read_text().strip()
    got = client.get(f"/v2/{name}/manifests/1", headers={"Accept": ACCEPT_ALL})
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == OCI_MANIFEST
    assert got.headers["docker-content-digest"] == digest == sha256_digest(got.content)
    manifest = json.loads(got.content)
    assert manifest["config"]["digest"] == f"sha256:{built.image_id}"
    layers = [client.get(f"/v2/{name}/blobs/{d['digest']}") for d in manifest["layers"]]
    assert [layer.status_code for layer in layers] == [200] * len(layers)
    assert any(layer_files(layer.content).get("hello.txt") == built.content for layer in layers)
    docker = client.get(f"/v2/{name}/manifests/docker", headers={"Accept": ACCEPT_ALL})
    assert docker.status_code == 200, docker.text
    assert docker.headers["content-type"] == DOCKER_MANIFEST
    assert json.loads(docker.content)["config"]["digest"] == f"sha256:{built.image_id}"

    # buildah pull into fresh storage, then read the file from the image's root filesystem.
    puller = storage("pull")
    pulled = run([*puller.buildah, "pull", *policy, f"docker://{reference}:1"])
    assert pulled.stdout.strip().splitlines()[-1] == built.image_id
    container = run([*puller.buildah, "from", "--pull-never", f"{reference}:1"]).stdout.strip()
    mounted = Path(run([*puller.buildah, "mount", container]).stdout.strip())
    assert (mounted / "hello.txt").read_bytes() == built.content
    run([*puller.buildah, "rm", container])

    # podman pull into other fresh storage.
    podman = storage("podman")
    pulled = run([*podman.podman, "pull", *policy, f"{reference}:1"])
    assert pulled.stdout.strip().splitlines()[-1] == built.image_id
    inspected = json.loads(run([*podman.podman, "image", "inspect", f"{reference}:1"]).stdout)
    assert inspected[0]["Id"] == built.image_id
    assert inspected[0]["Digest"] == digest
    assert f"{reference}@{digest}" in inspected[0]["RepoDigests"]
    assert inspected[0]["Labels"]["org.example.e2e"] == built.label
    root = Path(run([*podman.podman, "image", "mount", f"{reference}:1"]).stdout.strip())
    assert (root / "hello.txt").read_bytes() == built.content
    run([*podman.podman, "image", "unmount", f"{reference}:1"])
    pulled = run([*podman.podman, "pull", *policy, f"{reference}:docker"])
    assert pulled.stdout.strip().splitlines()[-1] == built.image_id
