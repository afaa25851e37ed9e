"""The app's own dispatch of registry paths: the one error mapping and the API version
header hold there as they do for the routes Starlette serves."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from tagtrail.api.app import RegistryApp
from tagtrail.api.routing import RegistryRoutes, Tail
from tagtrail.errors import NameUnknown
from tests.api.helpers import assert_oci_error, push_blob, random_bytes, repo


async def _broken(request: Request) -> Response:
    raise RuntimeError("a bug")


async def _unknown(request: Request) -> Response:
    raise NameUnknown(detail={"name": request.path_params["name"]})


async def _read_then_refuse(request: Request) -> Response:
    await request.body()
    raise NameUnknown(detail={"name": request.path_params["name"]})


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def app() -> RegistryApp:
    routes = RegistryRoutes(
        [
            Tail.of("broken/{x}", {"GET": _broken, "DELETE": _unknown, "PATCH": _unknown}),
            Tail.of("read/{x}", {"PATCH": _read_then_refuse}),
        ]
    )
    return RegistryApp(Starlette(), routes)


@pytest.mark.anyio
async def test_errors_on_registry_paths_get_the_oci_body(app: RegistryApp) -> None:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        bug = await client.get("/v2/a/b/broken/1")
        unknown = await client.delete("/v2/a/b/broken/1")
        wrong_method = await client.put("/v2/a/b/broken/1")
    assert_oci_error(bug, 500, "UNKNOWN")
    assert "a bug" not in bug.text  # internals stay in the log
    assert_oci_error(unknown, 404, "NAME_UNKNOWN")
    assert unknown.json()["errors"][0]["detail"] == {"name": "a/b"}
    assert_oci_error(wrong_method, 405, "UNSUPPORTED")
    assert wrong_method.headers["allow"] == "DELETE, GET, HEAD, PATCH"
    for response in (bug, unknown, wrong_method):
        assert response.headers["docker-distribution-api-version"] == "registry/2.0"


@pytest.mark.anyio
async def test_an_answer_before_the_body_is_read_closes_the_connection(app: RegistryApp) -> None:
    """The unread rest of a refused body stays on the wire, so the server closes the
    connection; the answer says so (RFC 9112 9.6), or a client reuses it and fails."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        unread = await client.patch("/v2/a/b/broken/1", content=b"x" * 1000)
        chunked = await client.patch("/v2/a/b/broken/1", content=_chunks(b"x", b"y"))
        read = await client.patch("/v2/a/b/read/1", content=b"x" * 1000)
        empty = await client.patch("/v2/a/b/broken/1", content=b"")
        pull = await client.get("/v2/a/b/broken/1")
    for response in (unread, chunked):
        assert_oci_error(response, 404, "NAME_UNKNOWN")
        assert response.headers["connection"] == "close"
    for response in (read, empty, pull):
        assert "connection" not in response.headers, response.headers


def test_pulls_carry_the_api_version_header(client: httpx.Client) -> None:
    name = repo()
    digest = push_blob(client, name, random_bytes(50))
    for response in (
        client.get(f"/v2/{name}/blobs/{digest}"),
        client.head(f"/v2/{name}/blobs/{digest}"),
        client.get(f"/v2/{name}/tags/list"),
    ):
        assert response.status_code == 200
        assert response.headers["docker-distribution-api-version"] == "registry/2.0"
