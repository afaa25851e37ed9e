"""Passwords (argon2) and pull-token secrets (256-bit random, compared by SHA-256)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

PULL_TOKEN_PREFIX = "ttp_"  # noqa: S105 - a prefix, not a secret


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    return secrets.token_urlsafe(18)


def new_pull_token() -> tuple[str, str]:
    """A fresh (id, secret). The secret names its token so it works alone as a Bearer."""
    token_id = PULL_TOKEN_PREFIX + secrets.token_hex(8)
    return token_id, f"{token_id}.{secrets.token_urlsafe(32)}"


def token_id_of(secret: str) -> str | None:
    token_id, dot, _ = secret.partition(".")
    if dot and token_id.startswith(PULL_TOKEN_PREFIX) and len(token_id) == 20:
        return token_id
    return None


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(expected_sha256: str, secret: str) -> bool:
    return hmac.compare_digest(expected_sha256, secret_digest(secret))
