"""schemathesis against the OpenAPI document tagtrail serves for its own endpoints (token,
both history APIs): generated requests never get a 5xx, and every JSON refusal is an OCI error
body. Run against a server with auth on and some history, so that the endpoints have work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.api.helpers import push_image
from tests.server import RunningServer, start_server
from tests.ssl_context import SHARED

ADMIN_PASSWORD = "schemathesis-admin-password"


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("schemathesis") / "data"
    server = start_server(data, "--auth", env={"TAGTRAIL_ADMIN_PASSWORD": ADMIN_PASSWORD})
    token = httpx.get(
        f"{server.url}/token",
        params={"scope": "repository:fuzz/app:pull,push"},
        auth=("admin", ADMIN_PASSWORD),
        verify=SHARED,
    ).json()["token"]
    with httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
        verify=SHARED,
    ) as http:
        for _ in range(3):
            push_image(http, "fuzz/app", "latest")  # random content: three moves
    yield server
    server.stop()


def _check(case: Any, url: str, seen: dict[int, int]) -> None:
    response = case.call(base_url=url, timeout=30)
    seen[response.status_code] = seen.get(response.status_code, 0) + 1
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])
    headers = {key.lower(): value for key, value in response.headers.items()}
    content_type = headers.get("content-type") or [""]  # schemathesis: lists of values
    is_json = str(content_type[0]).startswith("application/json")
    if response.status_code >= 400 and is_json:
        errors = response.json()["errors"]
        assert errors
        assert all({"code", "message", "detail"} <= set(error) for error in errors)


def test_no_server_errors_and_oci_refusals(fuzzed_server: RunningServer) -> None:
    # schemathesis' own pytest plugin does not load under this pytest; its hypothesis
    # strategies are driven directly instead, one operation after another.
    schema = schemathesis.openapi.from_url(f"{fuzzed_server.url}/openapi.json")
    results: list[Any] = list(schema.get_all_operations())
    operations = [result.ok() for result in results]  # raises on a document it cannot read
    assert len(operations) >= 4  # token GET and POST, both history APIs (and the document)
    seen: dict[int, int] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=60,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            _check(case, fuzzed_server.url, seen)

        fuzz()
    # The generator got past validation into the handlers, and was refused too.
    assert sum(seen.values()) >= 100
    assert any(200 <= status < 300 for status in seen), seen
    assert any(400 <= status < 500 for status in seen), seen
