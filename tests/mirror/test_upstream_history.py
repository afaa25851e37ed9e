"""The upstream client's ``tag_history`` against a tagtrail with auth on: the Tag History API
where it is served, else the draft OCI extension (the proxy refusing ``_chainguard/history``),
every ``Link`` page of it, deletions kept as deletions, and None where neither is served."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from pydantic import SecretStr

from tagtrail.upstream import Upstream, UpstreamMove
from tagtrail.upstream import history as upstream_history
from tests.auth.helpers import ADMIN_PASSWORD
from tests.mirror.conftest import UPSTREAM_ORG
from tests.mirror.faults import Fault, FaultProxy, fault_proxy
from tests.mirror.upstreams import OCI_MANIFEST, Image, push_image
from tests.server import RunningServer


def repo() -> str:
    return f"{UPSTREAM_ORG}/h-{uuid.uuid4().hex[:10]}"


def read(url: str, name: str, tag: str) -> list[UpstreamMove] | None:
    async def run() -> list[UpstreamMove] | None:
        async with Upstream(url, "admin", SecretStr(ADMIN_PASSWORD)) as upstream:
            return await upstream.tag_history(name, tag)

    return asyncio.run(run())


def moved_and_deleted(http: httpx.Client, name: str) -> tuple[Image, Image, Image]:
    """v1 pushed twice, deleted, pushed a third time."""
    first = push_image(http, name, "v1")
    second = push_image(http, name, "v1")
    assert http.delete(f"/v2/{name}/manifests/v1").status_code == 202
    third = push_image(http, name, "v1")
    return first, second, third


def oci_only(proxy: FaultProxy) -> None:
    proxy.add(Fault("/_chainguard/history/", "status", status=404))


def test_chainguard_history_is_read_first(
    auth_upstream: RunningServer, auth_upstream_http: httpx.Client
) -> None:
    name = repo()
    first, second, third = moved_and_deleted(auth_upstream_http, name)
    with fault_proxy(auth_upstream.url) as proxy:
        moves = read(proxy.url, name, "v1")
        paths = [path for _, path in proxy.seen]
    # Moves only (that API shows no deletions), and the OCI extension never asked.
    assert moves is not None
    assert [(m.digest, m.event) for m in moves] == [
        (first.digest, "created"),
        (second.digest, "created"),
        (third.digest, "created"),
    ]
    assert not any("_oci/" in path for path in paths)


def test_oci_extension_read_when_chainguard_is_not_served(
    auth_upstream: RunningServer, auth_upstream_http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = repo()
    first, second, third = moved_and_deleted(auth_upstream_http, name)
    expected = auth_upstream_http.get(f"/v2/{name}/_oci/tag-history/v1").json()["manifests"]
    monkeypatch.setattr(upstream_history, "OCI_PAGE", 1)  # a page per entry: Link followed
    with fault_proxy(auth_upstream.url) as proxy:
        oci_only(proxy)
        moves = read(proxy.url, name, "v1")
        pages = [path for _, path in proxy.seen if "_oci/tag-history" in path]
    assert moves is not None
    # Oldest first; the deletion is one, naming what the tag pointed to before it.
    assert [(m.digest, m.event) for m in moves] == [
        (first.digest, "created"),
        (second.digest, "created"),
        (second.digest, "deleted"),
        (third.digest, "created"),
    ]
    stamps = [e["annotations"]["org.opencontainers.distribution.tag.timestamp"] for e in expected]
    assert [m.timestamp for m in moves] == stamps[::-1]
    assert all(m.media_type == OCI_MANIFEST for m in moves)
    assert [m.size for m in moves] == [len(i.manifest) for i in (first, second, second, third)]
    assert len(pages) >= 4  # one page per entry (and the token flow's first ask)


def test_neither_api_served_is_none(
    auth_upstream: RunningServer, auth_upstream_http: httpx.Client
) -> None:
    name = repo()
    push_image(auth_upstream_http, name, "v1")
    with fault_proxy(auth_upstream.url) as proxy:
        oci_only(proxy)
        proxy.add(Fault("/_oci/tag-history/", "status", status=405))
        assert read(proxy.url, name, "v1") is None
