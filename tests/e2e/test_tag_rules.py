"""An immutable tag refuses a move from skopeo, oras-py, podman and a raw HTTP PUT alike,
against the session's real server: the client fails naming the rule, the tag stays, and its
history is unchanged. Rules are added with ``tagtrail admin rule`` on the server's database,
before anything is pushed into their organisation (so no worker holds an older answer)."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import oras.client
import pytest

from tests.cli.helpers import tagtrail
from tests.e2e.helpers import Skopeo, build_image, require_binary, run
from tests.e2e.test_buildah_podman import Storage, build
from tests.e2e.test_buildah_podman import storage as storage  # the fixture, used here too
from tests.server import RunningServer


@pytest.fixture
def guarded(server: RunningServer) -> tuple[str, str]:
    """(repository, rule description): a repository whose ``v*`` tags are immutable, in an
    organisation of its own (the workers cache each organisation's rules for seconds)."""
    organisation = f"rules{secrets.token_hex(6)}"
    name = f"{organisation}/app"
    target = f"{organisation}/app*"
    done = tagtrail(
        "admin", "--data-dir", str(server.data_dir), "rule", "add", target, "--immutable", "v*"
    )
    assert done.returncode == 0, done.stderr
    found = re.match(r"added rule (#\d+ \S+ v\*)", done.stdout)
    assert found, done.stdout
    return name, found.group(1)


def state(client: httpx.Client, name: str, tag: str) -> tuple[str, list[Any]]:
    """Where the tag points and its whole history."""
    head = client.head(f"/v2/{name}/manifests/{tag}")
    assert head.status_code == 200, head.text
    history = client.get(f"/v2/{name}/_chainguard/history/{tag}")
    assert history.status_code == 200, history.text
    return head.headers["docker-content-digest"], history.json()


def test_skopeo_and_raw_http(
    server: RunningServer,
    skopeo: Skopeo,
    client: httpx.Client,
    guarded: tuple[str, str],
    tmp_path: Path,
) -> None:
    name, rule = guarded
    layout = tmp_path / "layout"
    build_image(layout, "one", {"v.txt": b"one " + secrets.token_bytes(16)})
    second = build_image(layout, "two", {"v.txt": b"two " + secrets.token_bytes(16)})
    target = f"docker://{server.host}/{name}:v1"
    skopeo.copy(f"oci:{layout}:one", target)
    before = state(client, name, "v1")
    refused = skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:two", target, check=False)
    assert refused.returncode != 0
    assert "TAG_IMMUTABLE" in refused.stderr or "immutable" in refused.stderr, refused.stderr
    assert rule in refused.stderr, refused.stderr
    assert state(client, name, "v1") == before
    skopeo.copy(f"oci:{layout}:one", target)  # the same digest again: accepted
    assert state(client, name, "v1") == before
    # A raw PUT of the second manifest (its blobs are there: skopeo pushed them) to v1.
    response = client.put(
        f"/v2/{name}/manifests/v1",
        content=second.manifest,
        headers={"Content-Type": second.media_type},
    )
    assert response.status_code == 409, response.text
    error = response.json()["errors"][0]
    assert (error["code"], error["detail"]["rule"]) == ("TAG_IMMUTABLE", rule)
    assert state(client, name, "v1") == before


def test_oras(
    server: RunningServer,
    client: httpx.Client,
    guarded: tuple[str, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    name, rule = guarded
    oras_client: Any = oras.client.OrasClient(hostname=server.host, insecure=True)
    files = []
    for n in range(2):
        path = tmp_path / f"artifact{n}.txt"
        path.write_bytes(secrets.token_bytes(64))
        files.append(str(path))
    target = f"{server.host}/{name}:v1"
    oras_client.push(target=target, files=[files[0]], disable_path_validation=True)
    before = state(client, name, "v1")
    # oras-py logs the error body's message and raises with the status's reason.
    with caplog.at_level(logging.ERROR, logger="oras"), pytest.raises(ValueError, match="Conflict"):
        oras_client.push(target=target, files=[files[1]], disable_path_validation=True)
    assert f"tag v1 is immutable (rule {rule})" in caplog.text
    assert state(client, name, "v1") == before


def test_podman(
    server: RunningServer,
    client: httpx.Client,
    guarded: tuple[str, str],
    storage: Callable[[str], Storage],
    skopeo: Skopeo,
    tmp_path: Path,
) -> None:
    name, rule = guarded
    require_binary("podman")
    layout = tmp_path / "layout"
    build_image(layout, "one", {"v.txt": b"one " + secrets.token_bytes(16)})
    skopeo.copy(f"oci:{layout}:one", f"docker://{server.host}/{name}:v1")
    before = state(client, name, "v1")
    store = storage("podman")
    build(store, tmp_path / "context", "localhost/e2e-rules:1")
    policy = ["--signature-policy", str(store.policy), "--tls-verify=false"]
    pushed = run(
        [*store.podman, "push", *policy, "localhost/e2e-rules:1", f"{server.host}/{name}:v1"],
        check=False,
    )
    assert pushed.returncode != 0
    assert "immutable" in pushed.stderr and rule in pushed.stderr, pushed.stderr
    assert state(client, name, "v1") == before
