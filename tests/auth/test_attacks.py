"""Forged, stale, foreign and over-reaching tokens are all refused."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.api.helpers import assert_oci_error, push_image
from tests.auth import jwts
from tests.auth.helpers import (
    assert_challenge,
    assert_denied,
    everything,
    pull,
    push,
    request_token,
)
from tests.auth.jwts import access_of, claims_of, header_of, public_pem
from tests.auth.world import ADMIN, BOB, EVE, PUBLIC_TAGS, World, unique

Forger = Callable[[World, str], str]  # (world, repository) -> token


@pytest.fixture(scope="module")
def target(world: World) -> str:
    name = unique("acme", "target")
    with world.admin_client(name) as http:
        push_image(http, name, "latest")
    return name


def _kid(world: World) -> str:
    kid: str = header_of(world.token([]))["kid"]
    return kid


def _stranger() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _der(world: World) -> bytes:
    return (
        world.key()
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _signed(**overrides: Any) -> Forger:
    """Signed by the registry's own key: only the overridden claims are wrong."""
    return lambda world, name: jwts.es256(jwts.claims(name, **overrides), world.key(), _kid(world))


NOW = int(time.time())
FORGERS: dict[str, Forger] = {
    "alg none": lambda w, n: jwts.unsigned(jwts.claims(n), _kid(w)),
    "HS256 keyed with the public PEM": lambda w, n: jwts.hs256(
        jwts.claims(n), public_pem(w.key()), _kid(w)
    ),
    "HS256 keyed with the public DER": lambda w, n: jwts.hs256(jwts.claims(n), _der(w), _kid(w)),
    "wrong key, right kid": lambda w, n: jwts.es256(jwts.claims(n), _stranger(), _kid(w)),
    "wrong key, other kid": lambda w, n: jwts.es256(jwts.claims(n), _stranger(), "x" * 20),
    "expired": _signed(exp=NOW - 120, nbf=NOW - 420, iat=NOW - 420),
    "not yet valid": _signed(nbf=NOW + 600, iat=NOW + 600, exp=NOW + 900),
    "wrong audience": _signed(aud="another-registry"),
    "no audience": _signed(aud=None),
    "wrong issuer": _signed(iss="someone-else"),
    "tampered payload": lambda w, n: jwts.with_claims(w.token([pull(PUBLIC_TAGS)]), jwts.claims(n)),
}


def test_control_a_correctly_signed_token_is_accepted(world: World, target: str) -> None:
    """The forgeries below differ from this token in one property each."""
    with world.client(_signed()(world, target)) as http:
        assert http.get(f"/v2/{target}/manifests/latest").status_code == 200
        assert http.post(f"/v2/{target}/blobs/uploads/").status_code == 202


@pytest.mark.parametrize("forger", FORGERS, ids=list(FORGERS))
def test_forged_token_is_refused(world: World, target: str, forger: str) -> None:
    token = FORGERS[forger](world, target)
    with world.client(token) as http:
        response = http.get(f"/v2/{target}/manifests/latest")
        assert_challenge(response, world.url, [pull(target)], insufficient=None)
        response = http.post(f"/v2/{target}/blobs/uploads/")
        assert_challenge(response, world.url, [f"repository:{target}:push"], insufficient=None)
        assert_oci_error(http.get("/v2/"), 401, "UNAUTHORIZED")


GARBAGE = ["Bearer", "Bearer a.b.c", "Bearer e30.e30.", "Bearer eyJhbGciOiJub25lIn0.e30"]
GARBAGE += ["Bearer " + "x" * 5000, "Bearer ttp_0123456789abcdef.guess", "Token abc"]


@pytest.mark.parametrize("header", GARBAGE)
def test_garbage_credentials_are_refused(world: World, target: str, header: str) -> None:
    with world.client() as http:
        response = http.get(f"/v2/{target}/manifests/latest", headers={"Authorization": header})
        assert_challenge(response, world.url, [pull(target)], insufficient=None)


def test_token_for_one_repository_is_refused_on_another(world: World, target: str) -> None:
    other = unique("acme")
    with world.client(world.token([everything(other)], ADMIN)) as http:
        response = http.get(f"/v2/{target}/manifests/latest")
        assert_challenge(response, world.url, [pull(target)], insufficient=True)
        response = http.put(f"/v2/{target}/manifests/latest", content=b"{}")
        assert_challenge(response, world.url, [f"repository:{target}:push"], insufficient=True)


def test_pull_rights_do_not_push(world: World, target: str) -> None:
    for credential, who in (
        (world.token([push(target)], BOB), "user bob"),
        (world.acme_pull.secret, f"pull token {world.acme_pull.id}"),
    ):
        with world.client(credential) as http:
            assert http.get(f"/v2/{target}/manifests/latest").status_code == 200
            for response in (
                http.post(f"/v2/{target}/blobs/uploads/"),
                http.put(f"/v2/{target}/manifests/other", content=b"{}"),
            ):
                assert_denied(response, f"push to {target} denied for {who}")


def test_asking_for_more_gets_less_never_more(world: World, target: str) -> None:
    greedy = [f"repository:{target}:pull,push,delete,*", everything(PUBLIC_TAGS)]
    greedy += ["registry:catalog:*", "repository(plugin):x:pull", "registry:other:*"]
    assert access_of(world.token(greedy, BOB)) == {
        ("repository", target): {"pull"},
        ("repository", PUBLIC_TAGS): {"pull"},
        ("registry", "catalog"): {"*"},
    }
    assert access_of(world.token(greedy, EVE)) == {
        ("repository", PUBLIC_TAGS): {"pull"},
        ("registry", "catalog"): {"*"},
    }
    assert access_of(world.token(greedy)) == access_of(world.token(greedy, EVE))


def test_account_parameter_does_not_impersonate(world: World, target: str) -> None:
    response = request_token(world.url, [everything(target)], BOB, account="admin")
    if response.status_code == 200:
        token = response.json()["token"]
        assert access_of(token) == {("repository", target): {"pull"}}
        assert "admin" not in claims_of(token, world.key())["sub"]
    else:
        assert 400 <= response.status_code < 500, response.text


def test_token_for_another_service_is_not_issued(world: World, target: str) -> None:
    response = request_token(world.url, [pull(target)], BOB, service="another-registry")
    if response.status_code == 200:  # then still for this registry: verified with aud
        claims_of(response.json()["token"], world.key())
    else:
        assert 400 <= response.status_code < 500, response.text


def test_upload_session_of_another_repository_is_unknown(world: World, target: str) -> None:
    mine = unique("peer")
    with world.admin_client(target) as http:
        location = http.post(f"/v2/{target}/blobs/uploads/").headers["location"]
    session = location.rsplit("/", 1)[1].split("?")[0]
    with world.client(world.token([push(mine)], EVE)) as http:
        for method in ("GET", "PATCH", "PUT", "DELETE"):
            response = http.request(
                method, f"/v2/{mine}/blobs/uploads/{session}", params={"digest": _EMPTY}
            )
            assert_oci_error(response, 404, "BLOB_UPLOAD_UNKNOWN")
        response = http.patch(location, content=b"x")
        assert_challenge(response, world.url, [f"repository:{target}:push"], insufficient=True)


_EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
