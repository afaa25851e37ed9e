"""The OpenAPI document of tagtrail's own endpoints: valid OpenAPI 3.1, served without auth, and
every response the endpoints give here (status, content type, body, headers) is one it
documents."""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec

from tagtrail.api.openapi import DOCUMENT
from tagtrail.error_codes import ERROR_CODES
from tests.client.helpers import Moved, ensure_config, put_tag, small_manifest
from tests.server import RunningServer, start_server
from tests.ssl_context import SHARED

PASSWORD = "openapi-tests-admin-password"
HISTORY = "/v2/{name}/_chainguard/history/{tag}"
OCI_HISTORY = "/v2/{name}/_oci/tag-history/{tag}"


@dataclass(frozen=True)
class Servers:
    auth: RunningServer
    open: RunningServer


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, registry: RunningServer) -> Iterator[Servers]:
    base = tmp_path_factory.mktemp("openapi")
    auth = start_server(base / "auth", "--auth", env={"TAGTRAIL_ADMIN_PASSWORD": PASSWORD})
    yield Servers(auth, registry)
    auth.stop()


def resolve(node: Any) -> Any:
    """``node`` with every local ``$ref`` replaced by what it points to."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = DOCUMENT
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            return resolve(target)
        return {key: resolve(value) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(item) for item in node]
    return node


def check(path: str, method: str, response: httpx.Response) -> None:
    """``response`` is documented for ``method path``: status, content type, body, headers."""
    operation = DOCUMENT["paths"][path][method]
    status = str(response.status_code)
    assert status in operation["responses"], (path, method, status, response.text)
    documented = resolve(operation["responses"][status])
    content_type = response.headers["content-type"].partition(";")[0].strip()
    assert content_type in documented["content"], (path, status, content_type)
    schema = documented["content"][content_type]["schema"]
    errors = sorted(
        Draft202012Validator(schema).iter_errors(response.json()), key=lambda e: list(e.path)
    )
    assert not errors, (path, status, [e.message for e in errors])
    for name, header in documented.get("headers", {}).items():
        if header.get("required"):
            assert name.lower() in response.headers, (path, status, name)


def test_the_document_is_valid_openapi() -> None:
    validate_spec(DOCUMENT)


def test_the_error_codes_are_the_table_s() -> None:
    error = DOCUMENT["components"]["schemas"]["ErrorResponse"]
    code = error["properties"]["errors"]["items"]["properties"]["code"]
    assert code["enum"] == list(dict.fromkeys(entry.code for entry in ERROR_CODES))
    for entry in ERROR_CODES:
        assert f"| `{entry.code}` | {entry.status} | {entry.description} |" in code["description"]


def test_the_document_ships_as_package_data() -> None:
    pyproject = Path(__file__).parents[2] / "pyproject.toml"
    shipped = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]
    assert any(fnmatch.fnmatch("api/openapi.yaml", glob) for glob in shipped["tagtrail"])


def test_served_without_authentication(servers: Servers) -> None:
    response = httpx.get(f"{servers.auth.url}/openapi.json", verify=SHARED)
    assert response.status_code == 200, response.text
    assert response.json() == DOCUMENT
    check("/openapi.json", "get", response)


def test_token_endpoint_responses(servers: Servers) -> None:
    url = f"{servers.auth.url}/token"
    scope = {"scope": "repository:some/app:pull", "service": "tagtrail"}
    check("/token", "get", httpx.get(url, params=scope, verify=SHARED))
    with_refresh = httpx.get(
        url,
        params={**scope, "offline_token": "true"},
        auth=("admin", PASSWORD),
        verify=SHARED,
    )
    check("/token", "get", with_refresh)
    assert "refresh_token" in with_refresh.json()
    check("/token", "get", httpx.get(url, params=scope, auth=("admin", "wrong"), verify=SHARED))
    check("/token", "get", httpx.get(url, params={"scope": "not a scope"}, verify=SHARED))
    check("/token", "get", httpx.get(url, params={"service": "elsewhere"}, verify=SHARED))
    password = {"grant_type": "password", "username": "admin", "password": PASSWORD}
    offline = httpx.post(
        url, data={**password, "access_type": "offline", "scope": scope["scope"]}, verify=SHARED
    )
    check("/token", "post", offline)
    refreshed = httpx.post(
        url,
        data={"grant_type": "refresh_token", "refresh_token": offline.json()["refresh_token"]},
        verify=SHARED,
    )
    check("/token", "post", refreshed)
    check("/token", "post", httpx.post(url, data={**password, "password": "wrong"}, verify=SHARED))
    check("/token", "post", httpx.post(url, data={"grant_type": "bogus"}, verify=SHARED))
    check(
        "/token",
        "post",
        httpx.post(url, data={"grant_type": "refresh_token", "refresh_token": "x"}, verify=SHARED),
    )
    check("/token", "get", httpx.get(f"{servers.open.url}/token", params=scope, verify=SHARED))
    check("/token", "post", httpx.post(f"{servers.open.url}/token", data=password, verify=SHARED))


def test_history_responses(servers: Servers, moved: Moved) -> None:
    """Pages of a history longer than a page: the package's ``moved`` tag (on the same
    registry, ``servers.open``), not 1,001 more pushes of its own."""
    name, tag = moved.name, moved.tag
    with httpx.Client(base_url=servers.open.url, timeout=30, verify=SHARED) as client:
        ensure_config(client, "openapi/app")
        put_tag(client, "openapi/app", "other", small_manifest("other"))
        assert client.delete("/v2/openapi/app/manifests/other").status_code == 202
        first = client.get(f"/v2/{name}/_chainguard/history/{tag}")
        assert "link" in first.headers
        check(HISTORY, "get", first)
        check(
            HISTORY,
            "get",
            client.get(f"/v2/{name}/_chainguard/history/{tag}", params={"start": "2001-01-01"}),
        )
        check(
            HISTORY, "get", client.get(f"/v2/{name}/_chainguard/history/{tag}", params={"end": "x"})
        )
        check(HISTORY, "get", client.get(f"/v2/{name}/_chainguard/history/missing"))
        check(HISTORY, "get", client.get("/v2/openapi/none/_chainguard/history/latest"))
        oci = client.get(f"/v2/{name}/_oci/tag-history/{tag}", params={"n": "2"})
        assert "link" in oci.headers
        check(OCI_HISTORY, "get", oci)
        deleted = client.get("/v2/openapi/app/_oci/tag-history/other")
        assert [
            e["annotations"]["org.opencontainers.distribution.tag.event"]
            for e in deleted.json()["manifests"]
        ] == ["deleted", "created"]
        check(OCI_HISTORY, "get", deleted)
        check(OCI_HISTORY, "get", client.get("/v2/openapi/none/_oci/tag-history/latest"))
        check(
            OCI_HISTORY, "get", client.get(f"/v2/{name}/_oci/tag-history/{tag}", params={"n": "x"})
        )
        check(
            OCI_HISTORY,
            "get",
            client.get(f"/v2/{name}/_oci/tag-history/{tag}", params={"digest": "md5:1"}),
        )
    url = servers.auth.url
    check(HISTORY, "get", httpx.get(f"{url}/v2/{name}/_chainguard/history/{tag}", verify=SHARED))
    check(OCI_HISTORY, "get", httpx.get(f"{url}/v2/{name}/_oci/tag-history/{tag}", verify=SHARED))
