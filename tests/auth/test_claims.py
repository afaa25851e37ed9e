"""Tokens are ES256 JWTs with the registry claims; keys rotate and can be shared."""

from __future__ import annotations

import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.api.helpers import push_image
from tests.auth.cli import admin_cli
from tests.auth.conftest import StartAuth
from tests.auth.helpers import ISSUER, SERVICE, client, everything, pull, request_token, token_for
from tests.auth.jwts import claims_of, header_of
from tests.auth.world import ADMIN, ALICE, BOB, World, unique


def test_claims_of_a_user_token(world: World) -> None:
    name = unique("acme")
    before = int(time.time())
    response = request_token(world.url, [everything(name)], ALICE)
    body = response.json()
    token = body["token"]
    header = header_of(token)
    assert header["alg"] == "ES256"
    assert isinstance(header.get("kid"), str) and header["kid"]
    claims = claims_of(token, world.key())
    assert {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "access"} <= set(claims)
    assert claims["iss"] == ISSUER
    assert claims["aud"] in (SERVICE, [SERVICE])
    assert "alice" in claims["sub"]
    assert before - 5 <= claims["iat"] <= time.time() + 5
    assert claims["nbf"] <= claims["iat"] < claims["exp"]
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    assert claims["access"] == [{"type": "repository", "name": name, "actions": ["pull", "push"]}]


def test_every_token_is_unique_and_signed_by_the_same_key(world: World) -> None:
    tokens = [world.token([pull("acme/x")], ALICE) for _ in range(2)]
    tokens += [world.token([]), world.token([], BOB), world.token([], ADMIN)]
    tokens.append(world.token([], (world.acme_pull.id, world.acme_pull.secret)))
    claims = [claims_of(token, world.key()) for token in tokens]
    assert len({c["jti"] for c in claims}) == len(tokens)
    assert len({header_of(t)["kid"] for t in tokens}) == 1
    subjects = [c["sub"] for c in claims]
    assert subjects[0] == subjects[1]
    assert len(set(subjects[1:])) == len(subjects) - 1, subjects  # one per caller
    assert "alice" not in subjects[2] and "admin" not in subjects[2]  # anonymous
    assert world.acme_pull.secret not in subjects[-1]
    assert claims[2]["access"] == []


def test_rotated_key_keeps_verifying_until_expiry(start_auth: StartAuth, tmp_path: Path) -> None:
    data = tmp_path / "rotating"
    name = "team/app"
    first = start_auth(data)
    old_token = token_for(first.url, [everything(name)], ADMIN)
    old_key = serialization.load_pem_private_key(
        (data / "keys" / "signing.pem").read_bytes(), password=None
    )
    assert isinstance(old_key, ec.EllipticCurvePrivateKey)
    with client(first.url, old_token) as http:
        image = push_image(http, name, "v1")
    first.stop()
    rotated = admin_cli(data, "key", "rotate")  # with the server down
    second = start_auth(data)
    with client(second.url, old_token) as http:
        assert http.get(f"/v2/{name}/manifests/{image.digest}").status_code == 200
        push_image(http, name, "v2")
    new_token = token_for(second.url, [everything(name)], ADMIN)
    new_kid, old_kid = header_of(new_token)["kid"], header_of(old_token)["kid"]
    assert new_kid != old_kid
    assert new_kid in rotated.stdout
    claims_of(old_token, old_key)
    new_key = serialization.load_pem_private_key(
        (data / "keys" / "signing.pem").read_bytes(), password=None
    )
    assert isinstance(new_key, ec.EllipticCurvePrivateKey)
    claims_of(new_token, new_key)
    with client(second.url, new_token) as http:
        assert http.get(f"/v2/{name}/manifests/v1").status_code == 200


def test_key_from_settings_is_shared_by_two_servers(start_auth: StartAuth, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "shared.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pem.chmod(0o600)
    one = start_auth(None, TAGTRAIL_TOKEN_KEY=str(pem))
    two = start_auth(None, TAGTRAIL_TOKEN_KEY=str(pem))
    name = "team/shared"
    from_one = token_for(one.url, [everything(name)], ADMIN)
    claims_of(from_one, key)
    with client(two.url, from_one) as http:
        image = push_image(http, name, "latest")
    from_two = token_for(two.url, [pull(name)], ADMIN)
    assert header_of(from_two)["kid"] == header_of(from_one)["kid"]
    with client(two.url, from_two) as http:
        assert http.get(f"/v2/{name}/manifests/latest").content == image.body
    with client(one.url, from_two) as http:
        assert http.get(f"/v2/{name}/manifests/latest").status_code == 404  # known, not there
    # The key is the settings' to change: the CLI does not rotate it.
    refused = admin_cli(
        one.data_dir, "key", "rotate", check=False, env={"TAGTRAIL_TOKEN_KEY": str(pem)}
    )
    assert refused.returncode != 0
