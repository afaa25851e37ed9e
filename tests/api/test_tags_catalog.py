"""Tags list and catalog, with n/last paging and Link headers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.helpers import (
    assert_not_server_error,
    assert_oci_error,
    next_link,
    push_image,
    push_manifest,
    repo,
)


def follow(client: httpx.Client, url: str, key: str) -> tuple[list[str], int]:
    """Every item of ``key`` across the Link chain starting at ``url``, and the page count."""
    items: list[str] = []
    pages = 0
    next_url: str | None = url
    while next_url is not None:
        response = client.get(next_url)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        items.extend(body[key] or [])
        pages += 1
        assert pages < 10_000
        next_url = next_link(response)
    return items, pages


@pytest.fixture
def tagged(client: httpx.Client) -> tuple[str, list[str]]:
    """A repository with seven tags on one manifest."""
    name = repo("tags")
    tags = ["v1", "a", "latest", "v1.0", "v1.0.1", "zeta", "1"]
    pushed = push_image(client, name, tags[0])
    for tag in tags[1:]:
        push_manifest(client, name, tag, pushed.body)
    return name, sorted(tags)


def test_tags_list(client: httpx.Client, tagged: tuple[str, list[str]]) -> None:
    name, tags = tagged
    response = client.get(f"/v2/{name}/tags/list")
    assert response.status_code == 200
    assert response.json() == {"name": name, "tags": tags}
    assert "link" not in response.headers


@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_tags_list_paging(client: httpx.Client, tagged: tuple[str, list[str]], n: int) -> None:
    name, tags = tagged
    first = client.get(f"/v2/{name}/tags/list", params={"n": n})
    assert first.status_code == 200
    assert first.json()["tags"] == tags[:n]
    assert next_link(first) is not None
    collected, pages = follow(client, f"/v2/{name}/tags/list?n={n}", "tags")
    assert collected == tags  # everything, exactly once, in order
    assert pages == -(-len(tags) // n)


def test_tags_list_n_at_least_total_has_no_link(
    client: httpx.Client, tagged: tuple[str, list[str]]
) -> None:
    name, tags = tagged
    for n in (len(tags), len(tags) + 5):
        response = client.get(f"/v2/{name}/tags/list", params={"n": n})
        assert response.json()["tags"] == tags
        assert next_link(response) is None


def test_tags_list_last(client: httpx.Client, tagged: tuple[str, list[str]]) -> None:
    name, tags = tagged
    response = client.get(f"/v2/{name}/tags/list", params={"last": "latest"})
    assert response.json()["tags"] == [t for t in tags if t > "latest"]
    response = client.get(f"/v2/{name}/tags/list", params={"n": 2, "last": "a"})
    assert response.json()["tags"] == [t for t in tags if t > "a"][:2]
    response = client.get(f"/v2/{name}/tags/list", params={"last": "zzz"})
    assert response.status_code == 200
    assert response.json()["tags"] in ([], None)


def test_tags_list_n_zero_is_not_a_server_error(
    client: httpx.Client, tagged: tuple[str, list[str]]
) -> None:
    name, _ = tagged
    response = client.get(f"/v2/{name}/tags/list", params={"n": 0})
    assert_not_server_error(response)
    if response.status_code == 200:
        assert response.json()["tags"] in ([], None)
    else:
        assert_oci_error(response, 400, "PAGINATION_NUMBER_INVALID")


@pytest.mark.parametrize("n", ["-1", "abc", "1.5", "\u00b2"])
def test_tags_list_bad_n(client: httpx.Client, tagged: tuple[str, list[str]], n: str) -> None:
    name, _ = tagged
    response = client.get(f"/v2/{name}/tags/list", params={"n": n})
    assert_oci_error(response, 400, "PAGINATION_NUMBER_INVALID")


def test_tags_list_of_unknown_repository(client: httpx.Client) -> None:
    assert_oci_error(client.get(f"/v2/{repo()}/tags/list"), 404, "NAME_UNKNOWN")


def test_deleted_tags_leave_the_list(client: httpx.Client, tagged: tuple[str, list[str]]) -> None:
    name, tags = tagged
    assert client.delete(f"/v2/{name}/manifests/latest").status_code == 202
    assert client.get(f"/v2/{name}/tags/list").json()["tags"] == [t for t in tags if t != "latest"]


def test_catalog_paging_collects_every_repository_once(client: httpx.Client) -> None:
    prefix = repo("cat")
    names = sorted(f"{prefix}/r{i}" for i in range(5))
    for name in names:
        push_image(client, name, "v1")
    everything, _ = follow(client, "/v2/_catalog", "repositories")
    assert len(everything) == len(set(everything))
    assert everything == sorted(everything)
    assert set(names) <= set(everything)

    for n in (1, 2, 3):
        paged, pages = follow(client, f"/v2/_catalog?n={n}", "repositories")
        assert len(paged) == len(set(paged))
        # Other tests may add repositories meanwhile; ours are all there, in order.
        ours = [r for r in paged if r.startswith(prefix + "/")]
        assert ours == names
        assert pages >= -(-len(names) // n)


def test_catalog_page_size_and_last(client: httpx.Client) -> None:
    prefix = repo("cat")
    names = sorted(f"{prefix}/r{i}" for i in range(4))
    for name in names:
        push_image(client, name, "v1")
    response = client.get("/v2/_catalog", params={"n": 2, "last": prefix})
    assert response.status_code == 200
    assert response.json()["repositories"] == names[:2]
    link = next_link(response)
    assert link is not None
    following = client.get(link)
    assert following.json()["repositories"][:2] == names[2:]


def test_catalog_n_zero_is_not_a_server_error(client: httpx.Client) -> None:
    push_image(client, repo("cat"), "v1")
    response = client.get("/v2/_catalog", params={"n": 0})
    assert_not_server_error(response)
    if response.status_code == 200:
        assert response.json()["repositories"] in ([], None)
    else:
        assert_oci_error(response, 400, "PAGINATION_NUMBER_INVALID")


@pytest.mark.parametrize("n", ["-1", "abc", "\u00b2"])
def test_catalog_bad_n(client: httpx.Client, n: str) -> None:
    assert_oci_error(client.get("/v2/_catalog", params={"n": n}), 400, "PAGINATION_NUMBER_INVALID")
