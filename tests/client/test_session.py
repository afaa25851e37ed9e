"""The session's bearer flow and the point-in-time requests, against scripted HTTP answers."""

from __future__ import annotations

import base64
import ssl
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from tagtrail.client.dockerconfig import Credentials
from tagtrail.client.errors import AuthError, NotAtTime, RegistryUnreachable
from tagtrail.client.history import digest_at, required_digest
from tagtrail.client.reference import endpoint_for
from tagtrail.client.session import RegistrySession, pull_scope

DIGEST = "sha256:" + "c" * 64
CHALLENGE = 'Bearer realm="http://auth.example/token",service="reg"'
NEXT = "/v2/a/b/_chainguard/history/t?start=s&end=2024-05-01T12:00:00.250Z"
T = datetime(2024, 5, 1, 12, 0, 0, 250_999, tzinfo=UTC)  # .250999: millisecond 250


def session_with(
    handler: Callable[[httpx.Request], httpx.Response], credentials: Credentials | None = None
) -> RegistrySession:
    return RegistrySession(
        endpoint_for("reg.example"),
        lambda: credentials,
        transport=httpx.MockTransport(handler),
    )


def test_bearer_flow_fetches_one_token_per_scope_and_reuses_it() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "auth.example":
            return httpx.Response(200, json={"token": "T1"})
        if request.headers.get("authorization") != "Bearer T1":
            scope = 'scope="repository:a/b:pull"'
            return httpx.Response(401, headers={"WWW-Authenticate": f"{CHALLENGE},{scope}"})
        return httpx.Response(200, json={})

    session = session_with(handler, Credentials("user", "secret", source="test"))
    for _ in range(3):
        assert (
            session.request("GET", "/v2/a/b/tags/list", scope=pull_scope("a/b")).status_code == 200
        )
    token_requests = [r for r in seen if r.url.host == "auth.example"]
    assert len(token_requests) == 1
    assert token_requests[0].url.params.get_list("scope") == ["repository:a/b:pull"]
    assert token_requests[0].url.params["service"] == "reg"
    assert (
        token_requests[0].headers["authorization"]
        == "Basic " + base64.b64encode(b"user:secret").decode()
    )
    assert len(seen) == 5  # 401, token, retry, then two requests with the cached token


def test_a_second_401_names_the_refused_scope() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example":
            return httpx.Response(200, json={"access_token": "weak"})
        scope = 'scope="repository:a/b:pull",error="insufficient_scope"'
        return httpx.Response(401, headers={"WWW-Authenticate": f"{CHALLENGE},{scope}"})

    session = session_with(handler)
    with pytest.raises(AuthError, match=r"scope repository:a/b:pull refused \(anonymous"):
        session.request("GET", "/v2/a/b/tags/list", scope=pull_scope("a/b"))


def test_identity_tokens_use_the_oauth2_refresh_grant() -> None:
    forms: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example":
            assert request.method == "POST"
            forms.append(request.content)
            return httpx.Response(200, json={"access_token": "T2"})
        if request.headers.get("authorization") == "Bearer T2":
            return httpx.Response(200, json={})
        return httpx.Response(401, headers={"WWW-Authenticate": CHALLENGE})

    session = session_with(handler, Credentials(identity_token="refresh-me", source="test"))
    assert session.request("GET", "/v2/", scope=pull_scope("a/b")).status_code == 200
    form = dict(httpx.QueryParams(forms[0].decode()))
    assert form["grant_type"] == "refresh_token"
    assert form["refresh_token"] == "refresh-me"
    assert form["scope"] == "repository:a/b:pull"


def oci_index(*entries: tuple[str, str, str]) -> dict[str, object]:
    return {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "size": 10,
                "digest": digest,
                "annotations": {
                    "org.opencontainers.distribution.tag.timestamp": ts,
                    "org.opencontainers.distribution.tag.event": event,
                },
            }
            for ts, digest, event in entries
        ],
    }


def test_point_in_time_is_one_oci_request() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=oci_index(("2024-05-01T12:00:00.250Z", DIGEST, "created")))

    point = digest_at(session_with(handler), "a/b", "t", T)
    assert (point.digest, point.source) == (DIGEST, "oci")
    assert len(seen) == 1
    assert seen[0].url.path == "/v2/a/b/_oci/tag-history/t"
    assert dict(seen[0].url.params) == {"before": "2024-05-01T12:00:00.251Z", "n": "1"}


def test_a_deletion_means_the_tag_did_not_exist() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=oci_index(("2024-05-01T12:00:00.100Z", DIGEST, "deleted")))

    point = digest_at(session_with(handler), "a/b", "t", T)
    assert point.deleted
    with pytest.raises(NotAtTime, match=r"deleted at 2024-05-01T12:00:00\.100Z"):
        required_digest(point, "reg.example/a/b:t", T)


def test_without_the_extension_it_pages_the_tag_history_api() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if "_oci" in request.url.path:
            return httpx.Response(404, json={"errors": [{"code": "NOT_FOUND", "message": "no"}]})
        assert request.url.params["end"] == "2024-05-01T12:00:00.250Z"
        if "start" not in request.url.params:
            return httpx.Response(
                200,
                json={"history": [{"updateTimestamp": "2024-05-01T11:00:00.000Z", "digest": "x"}]},
                headers={"Link": f'<{NEXT}>; rel="next"'},
            )
        history = [{"updateTimestamp": "2024-05-01T12:00:00.250Z", "digest": DIGEST}]
        return httpx.Response(200, json={"history": history})

    point = digest_at(session_with(handler), "a/b", "t", T)
    assert (point.digest, point.source, point.sees_deletions) == (DIGEST, "chainguard", False)
    assert [r.url.path for r in seen] == [
        "/v2/a/b/_oci/tag-history/t",
        "/v2/a/b/_chainguard/history/t",
        "/v2/a/b/_chainguard/history/t",
    ]


def failing_handshake(cause: Exception) -> httpx.ConnectError:
    error = httpx.ConnectError(str(cause))
    error.__cause__ = cause
    return error


def test_a_loopback_session_falls_back_to_plain_http_once() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.scheme)
        if request.url.scheme == "https":
            raise failing_handshake(ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version"))
        return httpx.Response(200, json={})

    endpoint = endpoint_for("127.0.0.1:5000")
    session = RegistrySession(endpoint, lambda: None, transport=httpx.MockTransport(handler))
    for _ in range(2):
        assert session.request("GET", "/v2/", scope=pull_scope("a/b")).status_code == 200
    assert seen == ["https", "http", "http"]
    assert session.endpoint.base_url == "http://127.0.0.1:5000"


def test_an_untrusted_certificate_never_falls_back() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.scheme)
        raise failing_handshake(ssl.SSLCertVerificationError(1, "certificate verify failed"))

    endpoint = endpoint_for("localhost:5000")
    session = RegistrySession(endpoint, lambda: None, transport=httpx.MockTransport(handler))
    with pytest.raises(RegistryUnreachable, match="its TLS certificate is not trusted"):
        session.request("GET", "/v2/", scope=pull_scope("a/b"))
    assert seen == ["https"]
