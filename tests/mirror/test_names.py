"""Docker Hub's short names: ``python`` is ``library/python`` there and nowhere else."""

from __future__ import annotations

import pytest

from tagtrail.upstream.names import api_url, is_docker_hub, upstream_repository


@pytest.mark.parametrize(
    "url", ["registry-1.docker.io", "https://docker.io", "index.docker.io", "https://DOCKER.IO/"]
)
def test_docker_hub_expands_one_part_names(url: str) -> None:
    assert is_docker_hub(url)
    assert upstream_repository(url, "python") == "library/python"
    assert upstream_repository(url, "bitnami/redis") == "bitnami/redis"
    assert upstream_repository(url, "library/python") == "library/python"


@pytest.mark.parametrize("url", ["ghcr.io", "https://quay.io", "http://127.0.0.1:5000", "cgr.dev"])
def test_other_registries_keep_names(url: str) -> None:
    assert not is_docker_hub(url)
    assert upstream_repository(url, "python") == "python"


def test_api_url() -> None:
    # Docker Hub's aliases serve no /v2/; requests go to its API host.
    assert api_url("docker.io") == "https://registry-1.docker.io"
    assert api_url("https://index.docker.io/") == "https://registry-1.docker.io"
    assert api_url("ghcr.io") == "https://ghcr.io"
    assert api_url("http://127.0.0.1:5000/") == "http://127.0.0.1:5000"
