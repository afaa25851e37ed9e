"""``tagtrail restore`` against CNCF Distribution, which has no restore endpoint (it answers
the POST with a 404 or 405 that is no OCI refusal): the tag moves by GET and PUT instead."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from tests.cli.helpers import tagtrail
from tests.mirror.upstreams import Distribution, push_image


def test_restore_falls_back_to_get_and_put(
    distribution: Distribution, distribution_http: httpx.Client, tmp_path: Path
) -> None:
    repo = f"restore-{uuid.uuid4().hex[:10]}/app"
    one = push_image(distribution_http, repo, "prod")
    two = push_image(distribution_http, repo, "prod")
    answer = distribution_http.post(f"/v2/{repo}/_tagtrail/tags/prod/restore", json={})
    # What the client takes for "no endpoint": a 404 that is no OCI refusal (or a 405).
    assert answer.status_code == 404 and "errors" not in answer.text, answer.text
    ref = f"{distribution.host}/{repo}:prod"
    done = tagtrail("restore", ref, "--to", one.digest, env={"DOCKER_CONFIG": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{ref}: {two.digest} -> {one.digest}\n"
    head = distribution_http.head(
        f"/v2/{repo}/manifests/prod",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert head.headers["docker-content-digest"] == one.digest
