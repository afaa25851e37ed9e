"""Mirror moves obey immutable-tag rules: a covered tag is created when first seen upstream,
and a later move or deletion upstream is not followed here; nothing is recorded, the held
digest keeps serving, and the refusal is logged. Tags no rule covers follow as before."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import httpx
import pytest

from tests.auth.cli import admin
from tests.mirror.local import add_mirror, mirror_host
from tests.mirror.test_import import oci
from tests.mirror.upstreams import Distribution, push_image


def test_a_mirror_does_not_move_an_immutable_tag(
    tmp_path: Path,
    distribution: Distribution,
    distribution_http: httpx.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    repo = f"rul{uuid.uuid4().hex[:10]}/app"
    local = f"dist/{repo}"
    with mirror_host(tmp_path / "data") as host, host.client() as client:
        add_mirror(host.api.data_dir, "dist", distribution.url)
        out = admin(host.api.data_dir, "rule", "add", "dist", "--immutable", "v*")
        assert out.startswith("added rule #1 dist v*")
        first = push_image(distribution_http, repo, "v1")
        created = host.check(local, "v1")
        assert created.moved and str(created.digest) == first.digest
        push_image(distribution_http, repo, "latest")
        assert host.check(local, "latest").moved

        moved = push_image(distribution_http, repo, "v1")
        with caplog.at_level(logging.WARNING, logger="tagtrail.mirror"):
            refused = host.check(local, "v1")
        assert not refused.moved and refused.unavailable is None
        assert str(refused.digest) == first.digest
        assert f"{local}:v1 not moved: tag v1 is immutable (rule #1 dist v*)" in caplog.text
        served = client.get(f"/v2/{local}/manifests/v1")
        assert served.headers["docker-content-digest"] == first.digest
        assert [e["digest"] for e in oci(client, local, "v1")] == [first.digest]

        # The upstream deletes it: not followed either.
        deleted = distribution_http.delete(f"/v2/{repo}/manifests/{moved.digest}")
        assert deleted.status_code == 202, deleted.text
        gone = host.check(local, "v1")
        assert not gone.moved and str(gone.digest) == first.digest
        assert [e["digest"] for e in oci(client, local, "v1")] == [first.digest]

        # A tag the rule does not cover follows the upstream.
        latest = push_image(distribution_http, repo, "latest")
        assert host.check(local, "latest").moved
        assert oci(client, local, "latest")[0]["digest"] == latest.digest
