"""Real upstream registries for the mirror tests: CNCF Distribution (no history API), started
from the Debian package, and a way to push an image to any registry over plain HTTP.

Distribution is a required part of the suite, not an optional one: when its binary is missing
the fixture fails with what to install (scripts/test installs it), so CI cannot pass by
skipping every mirror test.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.server import free_port

DISTRIBUTION = Path("/usr/bin/docker-registry")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@dataclass
class Distribution:
    """A running ``docker-registry serve`` on 127.0.0.1."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    tls: bool = False

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_distribution(
    data: Path, tls: tuple[Path, Path] | None = None, verify: ssl.SSLContext | None = None
) -> Distribution:
    """Distribution on a free port with its storage under ``data``; returns once it answers.
    ``tls`` (certificate, key) serves HTTPS, whose CA ``verify`` trusts."""
    assert DISTRIBUTION.exists(), (
        f"{DISTRIBUTION} is missing: the mirror tests need CNCF Distribution "
        "(apt-get install docker-registry; scripts/test installs it)"
    )
    data.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = data / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {data / 'storage'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    if tls is not None:
        config.write_text(
            config.read_text() + f"  tls:\n    certificate: {tls[0]}\n    key: {tls[1]}\n"
        )
    log_path = data / "registry.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(DISTRIBUTION), "serve", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        )
    running = Distribution(process, port, log_path, tls=tls is not None)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"docker-registry exited with {process.returncode}: "
                f"{log_path.read_text(errors='replace')[-500:]}"
            )
        try:
            httpx.get(f"{running.url}/v2/", timeout=1, verify=verify or True)
            return running
        except httpx.TransportError:
            time.sleep(0.05)
    running.stop()
    raise RuntimeError(f"docker-registry did not answer on {running.host} within 30 s")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(http: httpx.Client, repo: str, data: bytes) -> str:
    """POST an upload, then PUT its bytes with ?digest= (the two steps every registry takes;
    Distribution ignores a monolithic POST's digest)."""
    digest = sha256(data)
    started = http.post(f"/v2/{repo}/blobs/uploads/")
    assert started.status_code == 202, started.text
    location = httpx.URL(started.headers["location"])
    done = http.put(
        str(http.base_url.join(location.path).copy_with(query=location.query)),
        params={**dict(location.params), "digest": digest},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert done.status_code == 201, done.text
    return digest


@dataclass(frozen=True)
class Image:
    manifest: bytes
    digest: str
    layers: tuple[bytes, ...]


def push_image(http: httpx.Client, repo: str, tag: str, layers: int = 1) -> Image:
    """A config, ``layers`` random layers and an OCI image manifest under ``tag``."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "nonce": os.urandom(8).hex()})
    contents = tuple(os.urandom(256) for _ in range(layers))
    descriptors = []
    config_digest = push_blob(http, repo, config.encode())
    for layer in contents:
        digest = push_blob(http, repo, layer)
        descriptors.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": digest,
                "size": len(layer),
            }
        )
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": descriptors,
        }
    ).encode()
    put = http.put(
        f"/v2/{repo}/manifests/{tag}", content=manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    assert put.status_code == 201, put.text
    return Image(manifest, sha256(manifest), contents)
