"""Registry tokens as JWTs: reading them (verified) and forging them for the attack tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.auth.helpers import ISSUER, SERVICE


def signing_key(data_dir: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(
        (data_dir / "keys" / "signing.pem").read_bytes(), password=None
    )
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def public_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def header_of(token: str) -> dict[str, Any]:
    return jwt.get_unverified_header(token)


def claims_of(token: str, key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    """The verified claims of a registry token (ES256, audience and issuer checked)."""
    claims: dict[str, Any] = jwt.decode(
        token, key.public_key(), algorithms=["ES256"], audience=SERVICE, issuer=ISSUER
    )
    return claims


def access_of(token: str) -> dict[tuple[str, str], set[str]]:
    """The ``access`` claim (unverified) as {(type, name): actions}, merged per resource."""
    claims = jwt.decode(token, options={"verify_signature": False})
    merged: dict[tuple[str, str], set[str]] = {}
    for entry in claims.get("access") or []:
        merged.setdefault((entry["type"], entry["name"]), set()).update(entry["actions"])
    return merged


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def claims(
    name: str, *, actions: tuple[str, ...] = ("pull", "push", "delete"), **overrides: Any
) -> dict[str, Any]:
    """Claims as the server issues them, for every action on ``name``, as the admin."""
    now = int(time.time())
    document: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user:admin",
        "aud": SERVICE,
        "exp": now + 300,
        "nbf": now - 1,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "access": [{"type": "repository", "name": name, "actions": list(actions)}],
    }
    document.update(overrides)
    return {k: v for k, v in document.items() if v is not None}


def es256(document: dict[str, Any], key: ec.EllipticCurvePrivateKey, kid: str) -> str:
    return jwt.encode(document, key, algorithm="ES256", headers={"kid": kid})


def unsigned(document: dict[str, Any], kid: str) -> str:
    header = {"alg": "none", "typ": "JWT", "kid": kid}
    return f"{_b64(_json(header))}.{_b64(_json(document))}."


def hs256(document: dict[str, Any], secret: bytes, kid: str) -> str:
    """HMAC-signed with ``secret`` (pyjwt refuses a PEM as HMAC key, so by hand)."""
    signing_input = (
        f"{_b64(_json({'alg': 'HS256', 'typ': 'JWT', 'kid': kid}))}.{_b64(_json(document))}"
    )
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def with_claims(token: str, document: dict[str, Any]) -> str:
    """``token``'s header and signature around other claims (a tampered payload)."""
    header, _, signature = token.split(".")
    return f"{header}.{_b64(_json(document))}.{signature}"
