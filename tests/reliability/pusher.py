"""Async pushes and pulls over HTTP for the reliability tests: what was acknowledged, and
checks that it is still served intact."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Acknowledged:
    """What the server answered 201 to: blobs and manifests per repository, tag moves."""

    blobs: dict[str, set[str]] = field(default_factory=dict)
    manifests: dict[str, dict[str, bytes]] = field(default_factory=dict)
    moves: list[tuple[str, str, str]] = field(default_factory=list)  # repo, tag, digest

    def blob(self, repo: str, digest: str) -> None:
        self.blobs.setdefault(repo, set()).add(digest)

    def manifest(self, repo: str, digest: str, content: bytes) -> None:
        self.manifests.setdefault(repo, {})[digest] = content

    def merge(self, other: Acknowledged) -> None:
        for repo, digests in other.blobs.items():
            self.blobs.setdefault(repo, set()).update(digests)
        for repo, manifests in other.manifests.items():
            self.manifests.setdefault(repo, {}).update(manifests)
        self.moves.extend(other.moves)


async def push_blob(
    http: httpx.AsyncClient, repo: str, data: bytes, *, chunked: bool, done: Acknowledged
) -> str:
    digest = sha256(data)
    if not chunked:
        response = await http.post(
            f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data
        )
    else:
        started = await http.post(f"/v2/{repo}/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = started.headers["location"]
        half = len(data) // 2
        for first, piece in ((0, data[:half]), (half, data[half:])):
            patched = await http.patch(
                location,
                content=piece,
                headers={"Content-Range": f"{first}-{first + len(piece) - 1}"},
            )
            assert patched.status_code == 202, patched.text
            location = patched.headers["location"]
        response = await http.put(location, params={"digest": digest})
    assert response.status_code == 201, response.text
    done.blob(repo, digest)
    return digest


async def push_image(
    http: httpx.AsyncClient,
    repo: str,
    tag: str,
    rng: random.Random,
    done: Acknowledged,
    chunked_share: float = 0.5,
) -> str:
    """A config and a layer (sizes up to 600 KiB; a share of the layers pushed in chunks),
    then the manifest by tag."""
    layer = rng.randbytes(rng.randint(1, 600 * 1024))
    config = json.dumps({"architecture": "amd64", "nonce": rng.random()}).encode()
    chunked = rng.random() < chunked_share
    layer_digest = await push_blob(http, repo, layer, chunked=chunked, done=done)
    config_digest = await push_blob(http, repo, config, chunked=False, done=done)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
        }
    ).encode()
    response = await http.put(
        f"/v2/{repo}/manifests/{tag}",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 201, response.text
    digest = sha256(manifest)
    done.manifest(repo, digest, manifest)
    done.moves.append((repo, tag, digest))
    return digest


async def verify_blob(http: httpx.AsyncClient, repo: str, digest: str) -> None:
    response = await http.get(f"/v2/{repo}/blobs/{digest}", follow_redirects=True)
    assert response.status_code == 200, f"{repo}@{digest}: {response.status_code}"
    assert sha256(response.content) == digest, f"{repo}@{digest}: corrupt bytes served"


async def verify_manifest(http: httpx.AsyncClient, repo: str, digest: str) -> bytes:
    response = await http.get(f"/v2/{repo}/manifests/{digest}", headers={"Accept": OCI_MANIFEST})
    assert response.status_code == 200, f"{repo}@{digest}: {response.status_code}"
    assert sha256(response.content) == digest, f"{repo}@{digest}: corrupt manifest served"
    return response.content


async def verify_all(http: httpx.AsyncClient, done: Acknowledged) -> None:
    """Everything acknowledged is pullable intact, and every tag move is in the history."""
    for repo, digests in done.blobs.items():
        for digest in digests:
            await verify_blob(http, repo, digest)
    for repo, manifests in done.manifests.items():
        for digest in manifests:
            content = await verify_manifest(http, repo, digest)
            document = json.loads(content)
            for blob in (document["config"], *document["layers"]):
                await verify_blob(http, repo, blob["digest"])
    histories: dict[tuple[str, str], list[str]] = {}
    for repo, tag, digest in done.moves:
        key = (repo, tag)
        if key not in histories:
            response = await http.get(f"/v2/{repo}/_oci/tag-history/{tag}", params={"n": "1000"})
            assert response.status_code == 200, response.text
            histories[key] = [entry["digest"] for entry in _entries(response.json())]
        assert digest in histories[key], f"acknowledged move {repo}:{tag} -> {digest} lost"


def _entries(body: object) -> list[dict[str, str]]:
    assert isinstance(body, dict)
    entries = body.get("history", body.get("manifests", []))
    assert isinstance(entries, list)
    return entries
