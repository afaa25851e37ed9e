"""podman pulls through tagtrail configured as a mirror in ``registries.conf``, as the README
shows: the image's registry (here one that answers nothing, so only the mirror can serve)
has tagtrail's mirror prefix as its mirror, and podman sends the upstream's name under it.

podman runs daemonless with vfs storage and a registries.conf of its own
(``CONTAINERS_REGISTRIES_CONF``) under a temporary directory: nothing global changes.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.mirror.mirror_server import PullThrough, pull_through, repository
from tests.mirror.upstreams import Distribution, push_blob, sha256

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
# The registry podman is asked for: a closed port on loopback, so a pull that did not go
# through the mirror fails instead of reaching anything.
NOWHERE = "127.0.0.1:1"


def _tar_layer(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def push_runnable_image(http: httpx.Client, repo: str, tag: str, content: bytes) -> str:
    """An image with one real tar layer; its config's digest (podman's image ID)."""
    layer = _tar_layer({"hello.txt": content})
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]},
            "config": {},
        }
    ).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": push_blob(http, repo, config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": push_blob(http, repo, layer),
                "size": len(layer),
            }
        ],
    }
    put = http.put(
        f"/v2/{repo}/manifests/{tag}",
        content=json.dumps(manifest).encode(),
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert put.status_code == 201, put.text
    return sha256(config)


@pytest.fixture
def podman_home() -> Iterator[Path]:
    if shutil.which("podman") is None:
        pytest.fail("podman is missing (scripts/test installs it)")
    # A short path: podman refuses run roots over 50 characters.
    base = Path(tempfile.mkdtemp(prefix="tt-podman-"))
    yield base
    shutil.rmtree(base, ignore_errors=True)


def test_podman_pulls_through_tagtrail_as_a_registries_conf_mirror(
    tmp_path: Path, distribution: Distribution, podman_home: Path
) -> None:
    with pull_through(tmp_path / "data", distribution) as mirror:
        _pull_with_podman(mirror, podman_home)


def _pull_with_podman(mirror: PullThrough, home: Path) -> None:
    repo = repository()
    content = os.urandom(16).hex().encode()
    with mirror.upstream() as upstream:
        image_id = push_runnable_image(upstream, repo, "v1", content)
    conf = home / "registries.conf"
    conf.write_text(
        "unqualified-search-registries = []\n\n"
        f'[[registry]]\nlocation = "{NOWHERE}"\ninsecure = true\n\n'
        f'[[registry.mirror]]\nlocation = "{mirror.server.host}/dist"\ninsecure = true\n'
    )
    policy = home / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    podman = [
        "podman",
        "--root",
        str(home / "root"),
        "--runroot",
        str(home / "run"),
        "--storage-driver",
        "vfs",
        "--tmpdir",
        str(home / "tmp"),
        "--events-backend",
        "none",
    ]
    env = {**os.environ, "CONTAINERS_REGISTRIES_CONF": str(conf)}
    pulled = subprocess.run(
        [*podman, "pull", "--signature-policy", str(policy), f"{NOWHERE}/{repo}:v1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert pulled.stdout.strip().splitlines()[-1] == image_id.removeprefix("sha256:")
    # tagtrail holds it now, under the mirror's prefix, fetched from the upstream.
    layer = _tar_layer({"hello.txt": content})
    with mirror.client() as http:
        assert http.get(f"/v2/dist/{repo}/tags/list").json()["tags"] == ["v1"]
        assert http.get(f"/v2/dist/{repo}/blobs/{sha256(layer)}").content == layer
    assert mirror.requests("HEAD", f"/v2/{repo}/manifests/v1") == 1
    assert mirror.requests("GET", f"/blobs/{sha256(layer)}") == 1  # podman's pull stored it
