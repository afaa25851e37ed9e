"""oras-py against tagtrail: artifacts pushed monolithically and in chunks, pulled, tags listed."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import oras.client
import pytest

from tests.e2e.helpers import OCI_MANIFEST, sha256_digest
from tests.server import RunningServer


class RecordingClient:
    """An oras client that also records each request's method, path and status."""

    def __init__(self, host: str) -> None:
        self.oras: Any = oras.client.OrasClient(hostname=host, insecure=True)
        self.calls: list[tuple[str, str, int]] = []
        send = self.oras.do_request

        def recorded(url: str, method: str = "GET", *args: Any, **kwargs: Any) -> Any:
            response = send(url, method, *args, **kwargs)
            self.calls.append((method, url.split(host, 1)[-1], response.status_code))
            return response

        self.oras.do_request = recorded


@pytest.fixture
def oras_client(server: RunningServer) -> RecordingClient:
    return RecordingClient(server.host)


def artifact(tmp_path: Path, name: str, size: int) -> Path:
    path = tmp_path / "src" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path


def pull_and_compare(client: RecordingClient, target: str, source: Path, out: Path) -> None:
    pulled = client.oras.pull(target=target, outdir=str(out))
    assert [Path(p).name for p in pulled] == [source.name]
    assert Path(pulled[0]).read_bytes() == source.read_bytes()


@pytest.mark.parametrize("chunked", [False, True], ids=["monolithic", "chunked"])
def test_push_pull_and_list_tags(
    server: RunningServer,
    oras_client: RecordingClient,
    repo: Callable[[str], str],
    client: httpx.Client,
    tmp_path: Path,
    chunked: bool,
) -> None:
    name = repo("artifact")
    target = f"{server.host}/{name}"
    # 5000 bytes in 1 KiB chunks: four full PATCHes and a short last one.
    first, second = artifact(tmp_path, "one.bin", 5000), artifact(tmp_path, "two.bin", 3000)
    options: dict[str, Any] = {"do_chunked": True, "chunk_size": 1024} if chunked else {}

    pushed = oras_client.oras.push(
        target=f"{target}:v1", files=[str(first)], disable_path_validation=True, **options
    )
    assert pushed.status_code == 201, pushed.text
    patches = [c for c in oras_client.calls if c[0] == "PATCH"]
    if chunked:
        assert [status for _, _, status in patches] == [202] * 5, oras_client.calls
    else:
        assert patches == []
    oras_client.oras.push(
        target=f"{target}:v2", files=[str(second)], disable_path_validation=True, **options
    )

    pull_and_compare(oras_client, f"{target}:v1", first, tmp_path / "out1")
    pull_and_compare(oras_client, f"{target}:v2", second, tmp_path / "out2")
    assert sorted(oras_client.oras.get_tags(target)) == ["v1", "v2"]
    assert len(oras_client.oras.get_tags(target, N=1)) == 1

    manifest = client.get(f"/v2/{name}/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert manifest.status_code == 200
    assert manifest.headers["docker-content-digest"] == pushed.headers["docker-content-digest"]
    layer = json.loads(manifest.content)["layers"][0]
    assert layer["digest"] == sha256_digest(first.read_bytes())
    assert layer["size"] == 5000
    blob = client.get(f"/v2/{name}/blobs/{layer['digest']}")
    assert blob.content == first.read_bytes()
