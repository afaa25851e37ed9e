"""Non-distributable layers that carry ``urls`` (Windows base images) are accepted without
having been pushed; every other reference must be in the repository. A setting turns the
exemption off. gc, blob deletes, indexes, referrers and the UI take such manifests in stride."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.helpers import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    assert_oci_error,
    descriptor,
    encode,
    index_manifest,
    push_blob,
    push_manifest,
    put_manifest,
    random_bytes,
    repo,
    sha256,
)
from tests.reliability.scenarios import run_gc
from tests.server import RunningServer, start_server

NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
URLS = ["https://mcr.microsoft.com/v2/windows/servercore/blobs/sha256:0"]


def windows_image(
    client: httpx.Client,
    name: str,
    *,
    media_type: str = OCI_MANIFEST,
    foreign_type: str = NONDISTRIBUTABLE,
    urls: list[str] | None = URLS,
) -> tuple[bytes, bytes]:
    """A manifest (config and an ordinary layer pushed) whose first layer is non-distributable
    and not pushed; returns the manifest and the foreign layer's bytes."""
    docker = media_type == DOCKER_MANIFEST
    config, base, layer = random_bytes(40), random_bytes(200), random_bytes(100)
    push_blob(client, name, config)
    push_blob(client, name, layer)
    foreign: dict[str, Any] = descriptor(foreign_type, base)
    if urls is not None:
        foreign["urls"] = urls
    document = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": descriptor(DOCKER_CONFIG if docker else OCI_CONFIG, config),
        "layers": [foreign, descriptor(DOCKER_LAYER if docker else OCI_LAYER, layer)],
    }
    return encode(document), base


@pytest.mark.parametrize(
    ("media_type", "foreign_type"),
    [
        (OCI_MANIFEST, NONDISTRIBUTABLE),
        (OCI_MANIFEST, "application/vnd.oci.image.layer.nondistributable.v1.tar"),
        (DOCKER_MANIFEST, DOCKER_FOREIGN),
    ],
)
def test_foreign_layer_with_urls_need_not_be_pushed(
    client: httpx.Client, media_type: str, foreign_type: str
) -> None:
    name = repo("nondist")
    body, base = windows_image(client, name, media_type=media_type, foreign_type=foreign_type)
    pushed = push_manifest(client, name, "ltsc2022", body, media_type)
    got = client.get(f"/v2/{name}/manifests/ltsc2022", headers={"Accept": media_type})
    assert got.status_code == 200 and got.content == body
    assert got.headers["content-type"] == media_type
    assert client.get(f"/v2/{name}/manifests/{pushed.digest}").status_code == 200
    # The registry never had the layer: a client fetches it from its urls.
    assert_oci_error(client.get(f"/v2/{name}/blobs/{sha256(base)}"), 404, "BLOB_UNKNOWN")


@pytest.mark.parametrize(
    ("foreign_type", "urls"),
    [
        (NONDISTRIBUTABLE, None),  # nowhere else to fetch it from
        (NONDISTRIBUTABLE, []),
        (NONDISTRIBUTABLE, ["file:///C:/layer.tar"]),  # not a place a client fetches from
        (OCI_LAYER, URLS),  # distributable: urls do not excuse it
    ],
)
def test_other_unpushed_layers_are_refused(
    client: httpx.Client, foreign_type: str, urls: list[str] | None
) -> None:
    name = repo("nondist")
    body, base = windows_image(client, name, foreign_type=foreign_type, urls=urls)
    error = assert_oci_error(put_manifest(client, name, "t", body), 400, "MANIFEST_BLOB_UNKNOWN")
    assert error["detail"] == {"digests": [sha256(base)]}
    assert_oci_error(client.get(f"/v2/{name}/manifests/t"), 404, "MANIFEST_UNKNOWN")


def test_the_config_and_ordinary_layers_must_still_be_pushed(client: httpx.Client) -> None:
    name = repo("nondist")
    config, base = random_bytes(40), random_bytes(200)
    foreign = descriptor(NONDISTRIBUTABLE, base, urls=URLS)
    body = encode(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, config),
            "layers": [foreign],
        }
    )
    error = assert_oci_error(put_manifest(client, name, "t", body), 400, "MANIFEST_BLOB_UNKNOWN")
    assert error["detail"] == {"digests": [sha256(config)]}


def test_index_referrers_and_ui_take_foreign_layers(client: httpx.Client) -> None:
    name = repo("nondist")
    body, _ = windows_image(client, name)
    image = push_manifest(client, name, sha256(body), body)
    index = push_manifest(client, name, "multi", index_manifest([image]), OCI_INDEX)
    assert client.get(f"/v2/{name}/manifests/multi").content == index.body
    signature = random_bytes(30)
    push_blob(client, name, signature)
    empty = b"{}"
    push_blob(client, name, empty)
    referrer = encode(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.signature",
            "config": descriptor("application/vnd.oci.empty.v1+json", empty),
            "layers": [descriptor("application/octet-stream", signature)],
            "subject": {"mediaType": OCI_MANIFEST, "digest": image.digest, "size": len(body)},
        }
    )
    push_manifest(client, name, sha256(referrer), referrer)
    found = client.get(f"/v2/{name}/referrers/{image.digest}").json()["manifests"]
    assert [entry["digest"] for entry in found] == [sha256(referrer)]
    page = client.get(f"/repo/{name}/-/digest/{image.digest}")
    assert page.status_code == 200, page.text
    assert NONDISTRIBUTABLE in page.text


def _serve(tmp_path: Path, label: str, **env: str) -> Iterator[RunningServer]:
    running = start_server(tmp_path / label, env=env)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[RunningServer]:
    yield from _serve(tmp_path, "strict", TAGTRAIL_ALLOW_NONDISTRIBUTABLE_ARTIFACTS="false")


@pytest.fixture
def own(tmp_path: Path) -> Iterator[RunningServer]:
    """A registry of this test's own, for gc (the shared one holds other tests' content)."""
    yield from _serve(tmp_path, "own")


def test_the_setting_turns_the_exemption_off(strict: RunningServer) -> None:
    with httpx.Client(base_url=strict.url, timeout=30) as client:
        name = repo("nondist")
        body, base = windows_image(client, name)
        error = assert_oci_error(
            put_manifest(client, name, "t", body), 400, "MANIFEST_BLOB_UNKNOWN"
        )
        assert error["detail"] == {"digests": [sha256(base)]}
        push_blob(client, name, base)  # pushed after all, the manifest is taken
        push_manifest(client, name, "t", body)


def _gc(server: RunningServer) -> str:
    return run_gc(server.data_dir, "--grace-seconds", "0")


def test_gc_keeps_what_foreign_layer_images_need(own: RunningServer) -> None:
    with httpx.Client(base_url=own.url, timeout=30) as client:
        name = repo("nondist")
        kept_body, _ = windows_image(client, name)
        push_manifest(client, name, "kept", kept_body)
        # A client that pushed the non-distributable layer too: its link is kept as well.
        copied_body, copied_base = windows_image(client, name)
        push_blob(client, name, copied_base)
        push_manifest(client, name, "copied", copied_body)
        gone_body, _ = windows_image(client, name)
        gone = push_manifest(client, name, sha256(gone_body), gone_body)
        assert client.delete(f"/v2/{name}/manifests/{gone.digest}").status_code == 202

        report = _gc(own)

        # The deleted image's blobs went, and nothing else of the repository.
        prefix = f"removed blob {name} "
        removed = [line.split()[3] for line in report.splitlines() if line.startswith(prefix)]
        assert sorted(removed) == sorted(_pushed_blobs(gone_body)), report
        for tag, pushed in (("kept", kept_body), ("copied", copied_body)):
            assert client.get(f"/v2/{name}/manifests/{tag}").content == pushed
            for layer in _pushed_blobs(pushed):
                assert client.get(f"/v2/{name}/blobs/{layer}").status_code == 200, layer
        assert client.get(f"/v2/{name}/blobs/{sha256(copied_base)}").content == copied_base
        assert_oci_error(client.get(f"/v2/{name}/manifests/{gone.digest}"), 404)


def _pushed_blobs(body: bytes) -> list[str]:
    """The config and the ordinary layers of a ``windows_image`` manifest."""
    document = json.loads(body)
    ordinary = [layer for layer in document["layers"] if layer["mediaType"] == OCI_LAYER]
    return [document["config"]["digest"], *(layer["digest"] for layer in ordinary)]
