"""Property-based hostile input (hypothesis): parsers raise only their own refusal, and the
server answers arbitrary names, digests, manifests, Range and Content-Range headers, scopes
and timestamps with no 5xx, every refusal an OCI error body."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagtrail.auth.scopes import parse_scope
from tagtrail.errors import RegistryError
from tagtrail.registry.parsing import parse_manifest
from tagtrail.times import parse_instant
from tagtrail.types import Digest, parse_name, parse_tag
from tests.api.helpers import OCI_MANIFEST, assert_oci_error, push_blob, random_bytes, sha256
from tests.server import RunningServer
from tests.ssl_context import SHARED

REPO = "hostile/app"
FEW = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
MANIFEST_KEYS = st.sampled_from(
    ["schemaVersion", "mediaType", "config", "layers", "manifests", "subject", "annotations"]
)
MANIFESTS = st.dictionaries(MANIFEST_KEYS, JSON | st.just(2) | st.just(OCI_MANIFEST), max_size=7)


@given(st.text(max_size=300))
def test_text_parsers_raise_only_refusals(raw: str) -> None:
    for parse in (Digest.parse, parse_name, parse_tag, parse_instant, parse_scope):
        with contextlib.suppress(RegistryError):
            parse(raw)


@given(MANIFESTS, st.sampled_from([None, OCI_MANIFEST, "text/plain", ""]))
def test_manifest_parser_raises_only_refusals(document: dict[str, Any], header: str | None) -> None:
    with contextlib.suppress(RegistryError):
        parse_manifest(json.dumps(document).encode(), header)


@pytest.fixture(scope="module")
def hostile(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30, verify=SHARED) as http:
        yield http


@pytest.fixture(scope="module")
def blob(hostile: httpx.Client) -> str:
    return push_blob(hostile, REPO, random_bytes(1000))


def refused_properly(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code == 400 and not response.content:
        return  # a malformed header refused by the HTTP server before the app sees it
    if response.status_code >= 400 and response.request.method != "HEAD":
        assert_oci_error(response, response.status_code)


@FEW
@given(st.text(min_size=1, max_size=80), st.text(min_size=1, max_size=80))
def test_arbitrary_names_and_references(hostile: httpx.Client, name: str, ref: str) -> None:
    for path in (
        f"/v2/{quote(name, safe='/')}/manifests/{quote(ref, safe='')}",
        f"/v2/{quote(name, safe='/')}/blobs/{quote(ref, safe='')}",
        f"/v2/{quote(name, safe='/')}/tags/list",
        f"/v2/{REPO}/_oci/tag-history/{quote(ref, safe='')}",
    ):
        refused_properly(hostile.get(path))


@FEW
@given(MANIFESTS, st.sampled_from([OCI_MANIFEST, "application/json", "x/y"]))
def test_arbitrary_manifests(hostile: httpx.Client, document: dict[str, Any], kind: str) -> None:
    response = hostile.put(
        f"/v2/{REPO}/manifests/fuzz",
        content=json.dumps(document).encode(),
        headers={"Content-Type": kind},
    )
    refused_properly(response)


RANGES = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda a, b: f"bytes={a}-{b}",
        st.one_of(st.just(""), st.integers(0, 2**70).map(str)),
        st.one_of(st.just(""), st.integers(0, 2**70).map(str)),
    ),
)


@FEW
@given(RANGES)
def test_arbitrary_range_headers(hostile: httpx.Client, blob: str, raw: str) -> None:
    try:
        response = hostile.get(f"/v2/{REPO}/blobs/{blob}", headers={"Range": raw})
    except (httpx.LocalProtocolError, UnicodeEncodeError):
        return  # not a header value httpx will send
    refused_properly(response)
    if response.status_code == 206:
        assert response.headers["content-range"].startswith("bytes ")


CONTENT_RANGES = st.one_of(
    st.text(max_size=40),
    st.builds(lambda a, b: f"{a}-{b}", st.integers(0, 2**70), st.integers(0, 2**70)),
)


@FEW
@given(CONTENT_RANGES, st.binary(max_size=64))
def test_arbitrary_content_range_headers(hostile: httpx.Client, raw: str, data: bytes) -> None:
    started = hostile.post(f"/v2/{REPO}/blobs/uploads/")
    assert started.status_code == 202
    try:
        response = hostile.patch(
            started.headers["location"], content=data, headers={"Content-Range": raw}
        )
    except (httpx.LocalProtocolError, UnicodeEncodeError):
        response = None
    if response is not None:
        refused_properly(response)
    done = hostile.put(started.headers["location"], params={"digest": sha256(data)})
    refused_properly(done)


@FEW
@given(st.text(max_size=60), st.text(max_size=60))
def test_arbitrary_timestamps_and_scopes(hostile: httpx.Client, moment: str, scope: str) -> None:
    for path, params in (
        (f"/v2/{REPO}/_chainguard/history/latest", {"start": moment}),
        (f"/v2/{REPO}/_chainguard/history/latest", {"end": moment}),
        (f"/v2/{REPO}/_oci/tag-history/latest", {"before": moment, "n": moment}),
        (f"/v2/{REPO}/_oci/tag-history/latest", {"since": moment, "digest": moment}),
        ("/token", {"scope": scope, "service": moment}),
    ):
        response = hostile.get(path, params=params)
        assert response.status_code < 500, response.text
        if response.status_code >= 400 and path != "/token":
            assert_oci_error(response, response.status_code)
