"""Registry tokens: ES256 JWTs as the Docker registry token specification describes them.

Access tokens carry ``access`` (granted scopes) and, where a pull right comes only from public
tags, ``tag_limits`` (repository -> tag patterns). Refresh tokens carry ``typ: refresh`` and
only name their subject; whoever redeems one is re-authorised from the current accounts.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

from tagtrail.auth.keys import KeyRing
from tagtrail.auth.model import Grant
from tagtrail.auth.scopes import Scope
from tagtrail.errors import Unauthorized

ALGORITHM = "ES256"
_LEEWAY_SECONDS = 5


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int
    issued_at: str


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    subject: str
    grants: dict[tuple[str, str], Grant]

    def grant(self, type_: str, name: str) -> Grant | None:
        return self.grants.get((type_, name))


def _iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


class _RecentlyVerified:
    """Access tokens this process verified, by their text, until they expire.

    A client sends the same token with every request until it expires, and checking its
    ES256 signature costs about 100 us: five times a whole manifest GET. What the check
    proved (signature, issuer, audience) holds as long as the signing key is trusted, so a
    token is checked once; its expiry is checked on every use, and its key must still be in
    the ring. The scopes are the token's own, read per request from its grants."""

    MAX_ENTRIES = 4096

    def __init__(self) -> None:
        self._entries: dict[str, tuple[VerifiedToken, float, str]] = {}

    def get(self, token: str, keys: KeyRing) -> VerifiedToken | None:
        found = self._entries.get(token)
        if found is None:
            return None
        verified, until, kid = found
        if time.time() > until or kid not in keys.verifying:
            del self._entries[token]
            return None
        return verified

    def put(self, token: str, verified: VerifiedToken, until: float, kid: str) -> None:
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()  # simpler than LRU, and tokens live minutes anyway
        self._entries[token] = (verified, until, kid)


class TokenAuthority:
    def __init__(
        self, keys: KeyRing, *, issuer: str, service: str, ttl: int, refresh_ttl: int
    ) -> None:
        self._keys = keys
        self.issuer = issuer
        self.service = service
        self.ttl = ttl
        self.refresh_ttl = refresh_ttl
        self._recent = _RecentlyVerified()

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims,
            self._keys.signing_key,
            algorithm=ALGORITHM,
            headers={"kid": self._keys.signing_kid},
        )

    def _base_claims(self, subject: str, lifetime: int) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + lifetime,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_urlsafe(16),
        }

    def issue(self, subject: str, granted: list[tuple[Scope, Grant]]) -> IssuedToken:
        claims = self._base_claims(subject, self.ttl)
        claims["access"] = [
            {"type": s.type, "name": s.name, "actions": sorted(g.actions)} for s, g in granted
        ]
        limits = {s.name: list(g.tag_limits) for s, g in granted if g.tag_limits is not None}
        if limits:
            claims["tag_limits"] = limits
        return IssuedToken(self._sign(claims), self.ttl, _iso(claims["iat"]))

    def issue_refresh(self, subject: str, not_after: int | None = None) -> str:
        lifetime = self.refresh_ttl
        if not_after is not None:
            lifetime = max(0, min(lifetime, not_after - int(time.time())))
        claims = self._base_claims(subject, lifetime)
        claims["typ"] = "refresh"
        return self._sign(claims)

    def _decode(self, token: str) -> dict[str, Any]:
        return self._decode_with_kid(token)[0]

    def _decode_with_kid(self, token: str) -> tuple[dict[str, Any], str]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("malformed token") from exc
        if header.get("alg") != ALGORITHM:
            raise Unauthorized("token algorithm not accepted")
        kid = header.get("kid")
        key = self._keys.public_key(kid) if isinstance(kid, str) else None
        if key is None or not isinstance(kid, str):
            raise Unauthorized("token signed by an unknown key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.service,
                issuer=self.issuer,
                leeway=_LEEWAY_SECONDS,
                options={"require": ["exp", "nbf", "iat", "iss", "aud", "sub", "jti"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"token rejected: {exc}") from exc
        return claims, kid

    def verify(self, token: str) -> VerifiedToken:
        verified = self._recent.get(token, self._keys)
        if verified is None:
            claims, kid = self._decode_with_kid(token)
            verified = self._access(claims)
            # The same bound as jwt.decode's: exp plus the leeway.
            self._recent.put(token, verified, float(claims["exp"]) + _LEEWAY_SECONDS, kid)
        return verified

    @staticmethod
    def _access(claims: dict[str, Any]) -> VerifiedToken:
        if claims.get("typ") == "refresh":
            raise Unauthorized("a refresh token is not an access token")
        grants: dict[tuple[str, str], Grant] = {}
        limits = claims.get("tag_limits") or {}
        access = claims.get("access") or []
        if not isinstance(access, list) or not isinstance(limits, dict):
            raise Unauthorized("malformed access claim")
        for entry in access:
            if not isinstance(entry, dict):
                raise Unauthorized("malformed access claim")
            type_, name, actions = entry.get("type"), entry.get("name"), entry.get("actions")
            if not (isinstance(type_, str) and isinstance(name, str) and isinstance(actions, list)):
                raise Unauthorized("malformed access claim")
            limit = limits.get(name) if type_ == "repository" else None
            grants[(type_, name)] = Grant(
                frozenset(str(a) for a in actions),
                tuple(str(t) for t in limit) if isinstance(limit, list) else None,
            )
        return VerifiedToken(str(claims["sub"]), grants)

    def verify_refresh(self, token: str) -> str:
        claims = self._decode(token)
        if claims.get("typ") != "refresh":
            raise Unauthorized("not a refresh token")
        return str(claims["sub"])
