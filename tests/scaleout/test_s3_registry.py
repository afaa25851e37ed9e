"""A full skopeo push and pull through a registry on PostgreSQL and S3 (RGW)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import Skopeo, build_image, layer_files, layout_blob, require_binary
from tests.server import RunningServer
from tests.ssl_context import SHARED


@pytest.fixture
def skopeo(tmp_path: Path) -> Skopeo:
    require_binary("skopeo")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    return Skopeo(policy)


@pytest.mark.parametrize("redirect", [True, False], ids=["redirect", "proxy"])
def test_skopeo_push_and_pull(
    replica: Callable[..., RunningServer], skopeo: Skopeo, tmp_path: Path, redirect: bool
) -> None:
    server = replica(redirect=redirect)
    layout = tmp_path / "layout"
    payload = b"s3 backed " * 700_000  # a layer over S3's 5 MiB part minimum
    image = build_image(layout, "v1", {"payload.bin": payload})
    skopeo.copy(f"oci:{layout}:v1", f"docker://{server.host}/s3/app:v1")

    layer = image.layer_digests[0]
    with httpx.Client(base_url=server.url, timeout=30, verify=SHARED) as http:
        answer = http.get(f"/v2/s3/app/blobs/{layer}")
        if redirect:
            assert answer.status_code == 307
            assert answer.headers["location"].startswith("http://127.0.0.1:")
        else:
            assert answer.status_code == 200
        followed = http.get(f"/v2/s3/app/blobs/{layer}", follow_redirects=True)
        assert followed.content == layout_blob(layout, layer)
        ranged = http.get(
            f"/v2/s3/app/blobs/{layer}", headers={"Range": "bytes=5-14"}, follow_redirects=True
        )
        assert ranged.status_code == 206
        assert ranged.content == layout_blob(layout, layer)[5:15]
        head = http.head(f"/v2/s3/app/blobs/{layer}")
        assert head.status_code == 200
        assert int(head.headers["content-length"]) == len(layout_blob(layout, layer))

    pulled = tmp_path / "pulled"
    skopeo.copy(f"docker://{server.host}/s3/app:v1", f"oci:{pulled}:v1")
    assert layer_files(layout_blob(pulled, layer))["payload.bin"] == payload
