"""A manifest reference that is neither a tag nor a digest: reads answer 404 MANIFEST_UNKNOWN
(the spec's only answer for a missing manifest), a push 400 TAG_INVALID, and with auth on
the caller is authorised first (401 challenge without a token)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import (
    assert_oci_error,
    image_manifest,
    push_blob,
    push_image,
    put_manifest,
    random_bytes,
    repo,
)
from tests.auth.cli import admin
from tests.auth.helpers import ADMIN_PASSWORD, assert_challenge, client, everything, pull, push
from tests.auth.helpers import token_for as token_of
from tests.server import RunningServer, start_server

INVALID = [
    "bad!tag",
    "-leading-dash",
    ".dot",
    "a" * 129,
    "has+plus",
    "sha256:short",
    "sha256:" + "A" * 64,  # upper-case hex
    "md5:" + "0" * 32,  # an algorithm the registry does not take
    "v1%20x",
]
ADMIN = ("admin", ADMIN_PASSWORD)


@pytest.mark.parametrize("reference", INVALID)
def test_read_of_an_invalid_reference_is_manifest_unknown(
    client: httpx.Client, reference: str
) -> None:
    name = repo("refs")
    push_image(client, name, "v1")
    error = assert_oci_error(
        client.get(f"/v2/{name}/manifests/{reference}"), 404, "MANIFEST_UNKNOWN"
    )
    assert error["detail"] == {"reference": httpx.URL(f"/{reference}").path[1:][:200]}
    head = client.head(f"/v2/{name}/manifests/{reference}")
    assert head.status_code == 404
    assert head.content == b""
    # So in a repository that does not exist, too.
    absent = client.get(f"/v2/{repo('refs')}/manifests/{reference}")
    assert_oci_error(absent, 404, "MANIFEST_UNKNOWN")


@pytest.mark.parametrize("reference", ["bad!tag", "-leading-dash", "a" * 129])
def test_push_to_an_invalid_tag_stays_tag_invalid(client: httpx.Client, reference: str) -> None:
    name = repo("refs")
    config = random_bytes()
    push_blob(client, name, config)
    response = put_manifest(client, name, reference, image_manifest(config))
    assert_oci_error(response, 400, "TAG_INVALID")


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data: Path = tmp_path_factory.mktemp("refs-auth") / "data"
    running = start_server(data, "--auth", env={"TAGTRAIL_ADMIN_PASSWORD": ADMIN_PASSWORD})
    try:
        admin(data, "org", "create", "refs")
        yield running
    finally:
        running.stop()


def test_authorisation_comes_before_the_reference(auth_server: RunningServer) -> None:
    url, name = auth_server.url, "refs/private"
    with client(url, token_of(url, [everything(name)], ADMIN)) as http:
        push_image(http, name, "v1")
    for reference in ("bad!tag", "sha256:short"):
        path = f"{url}/v2/{name}/manifests/{reference}"
        assert_challenge(httpx.get(path), url, [pull(name)], insufficient=False)
        assert httpx.head(path).status_code == 401
        assert_challenge(httpx.put(path, content=b"{}"), url, [push(name)], insufficient=False)
        assert_challenge(httpx.delete(path), url, [f"repository:{name}:delete"], insufficient=False)
        # Another repository's token is not enough either.
        with client(url, token_of(url, [pull("refs/other")], ADMIN)) as other:
            assert_challenge(other.get(path), url, [pull(name)], insufficient=True)
        with client(url, token_of(url, [pull(name)], ADMIN)) as reader:
            assert_oci_error(reader.get(path), 404, "MANIFEST_UNKNOWN")
            assert reader.head(path).status_code == 404
        with client(url, token_of(url, [push(name)], ADMIN)) as writer:
            body = writer.put(path, content=b"{}", headers={"Content-Type": "application/json"})
            assert_oci_error(body, 400, ("TAG_INVALID", "DIGEST_INVALID"))


def test_public_tags_caller_matches_an_invalid_reference_as_a_tag_name(
    auth_server: RunningServer,
) -> None:
    """An anonymous caller of a repository public for ``v*`` only: a reference the patterns
    match is answered as missing, any other is not the caller's to ask about."""
    url, name = auth_server.url, "refs/public-tags"
    admin(auth_server.data_dir, "repo", "visibility", name, "public-tags=v*")
    with client(url, token_of(url, [everything(name)], ADMIN)) as http:
        push_image(http, name, "v1")
    with client(url, token_of(url, [pull(name)])) as anonymous:
        assert anonymous.get(f"/v2/{name}/manifests/v1").status_code == 200
        assert_oci_error(anonymous.get(f"/v2/{name}/manifests/v!1"), 404, "MANIFEST_UNKNOWN")
        response = anonymous.get(f"/v2/{name}/manifests/x!1")
        assert_challenge(response, url, [pull(name)], insufficient=True)
