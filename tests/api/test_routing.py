"""Routing of /v2/<name>/... by trailing segments: the same answers the greedy
``{name:path}`` patterns gave, for names that contain the route words themselves."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from tagtrail.api.app import REGISTRY
from tests.api.helpers import assert_oci_error, repo


def _route(path: str, method: str = "GET") -> tuple[str, dict[str, str]] | None:
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    found = REGISTRY.find(scope)
    if found is None:
        return None
    if found.handler is None:
        return "405", found.params
    return found.handler.__name__, found.params


@pytest.mark.parametrize(
    ("path", "endpoint", "params"),
    [
        ("/v2/a/manifests/latest", "get_manifest", {"name": "a", "reference": "latest"}),
        (
            "/v2/a/manifests/b/manifests/v1",
            "get_manifest",
            {"name": "a/manifests/b", "reference": "v1"},
        ),
        ("/v2/a/blobs/uploads/", "upload_status", None),
        ("/v2/a/blobs/uploads/abc", "upload_status", {"name": "a", "upload_id": "abc"}),
        ("/v2/a/blobs/uploads", "get_blob", {"name": "a", "digest": "uploads"}),
        ("/v2/x/blobs/uploads/y/blobs/d", "get_blob", {"name": "x/blobs/uploads/y", "digest": "d"}),
        ("/v2/tags/list/tags/list", "list_tags", {"name": "tags/list"}),
        ("/v2/a/referrers/sha256:1", "referrers", {"name": "a", "digest": "sha256:1"}),
        ("/v2/a/_chainguard/history/t", "chainguard_history", {"name": "a", "tag": "t"}),
        ("/v2/a/_oci/tag-history/t", "oci_tag_history", {"name": "a", "tag": "t"}),
    ],
)
def test_paths_route_by_their_last_segments(
    path: str, endpoint: str, params: dict[str, str] | None
) -> None:
    found = _route(path)
    if params is None:  # POST-only path: GET is a 405 on it
        assert found is not None and found[0] == "405"
        return
    assert found == (endpoint, params)


@pytest.mark.parametrize(
    "path",
    [
        "/v2/manifests/latest",  # no name in front
        "/v2/a/manifests/",  # empty reference
        "/v2/a/manifests",
        "/v2/a/nothing/here",
        "/v2/",
        "/v2/_catalog",
        "/elsewhere/a/manifests/x",
    ],
)
def test_other_paths_go_on_to_other_routes(path: str) -> None:
    assert _route(path) is None


def test_head_follows_get_and_unknown_methods_are_partial() -> None:
    assert _route("/v2/a/tags/list", "HEAD") == ("list_tags", {"name": "a"})
    assert _route("/v2/a/tags/list", "POST") == ("405", {"name": "a"})


def test_wrong_method_is_405_naming_the_allowed_ones(client: httpx.Client) -> None:
    response = client.post(f"/v2/{repo()}/manifests/latest")
    assert_oci_error(response, 405, "UNSUPPORTED")
    assert response.headers["allow"] == "DELETE, GET, HEAD, PUT"


def test_a_name_made_of_route_words_works_end_to_end(client: httpx.Client) -> None:
    name = f"{repo()}/manifests/blobs/uploads/tags"
    data = b"routed"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    pushed = client.post(f"/v2/{name}/blobs/uploads/", params={"digest": digest}, content=data)
    assert pushed.status_code == 201, pushed.text
    assert pushed.headers["location"] == f"/v2/{name}/blobs/{digest}"
    assert client.get(f"/v2/{name}/blobs/{digest}").content == data
    assert client.get(f"/v2/{name}/tags/list").json() == {"name": name, "tags": []}
