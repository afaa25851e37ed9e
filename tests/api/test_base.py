"""The API base endpoint and the error envelope of requests no endpoint serves."""

from __future__ import annotations

import httpx

from tests.api.helpers import assert_oci_error, repo


def test_base_endpoint_answers_200_with_api_version(served_client: httpx.Client) -> None:
    response = served_client.get("/v2/")
    assert response.status_code == 200
    assert response.headers["docker-distribution-api-version"] == "registry/2.0"


def test_base_endpoint_head(served_client: httpx.Client) -> None:
    response = served_client.head("/v2/")
    assert response.status_code == 200
    assert response.headers["docker-distribution-api-version"] == "registry/2.0"


def test_errors_carry_api_version_header_too(served_client: httpx.Client) -> None:
    response = served_client.get(f"/v2/{repo()}/tags/list")
    assert_oci_error(response, 404, "NAME_UNKNOWN")
    assert response.headers["docker-distribution-api-version"] == "registry/2.0"


def test_unknown_endpoint_is_404_with_oci_body(served_client: httpx.Client) -> None:
    assert_oci_error(served_client.get("/v2/some/repo/nothing-here"), 404)
    assert_oci_error(served_client.get("/not-v2-at-all"), 404)


def test_method_not_allowed_is_405_with_oci_body(served_client: httpx.Client) -> None:
    assert_oci_error(served_client.post("/v2/"), 405, "UNSUPPORTED")
    assert_oci_error(served_client.post("/v2/_catalog"), 405, "UNSUPPORTED")
