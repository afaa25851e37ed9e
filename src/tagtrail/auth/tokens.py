"""Registry tokens: ES256 JWTs as the Docker registry token specification describes them.

Access tokens carry ``access`` (granted scopes) and, where a pull right comes only from public
tags, ``tag_limits`` (repository -> tag patterns). Refresh tokens carry ``typ: refresh`` and
only name their subject; whoever redeems one is re-authorised from the current accounts.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from cachetools import TLRUCache

from tagtrail.auth.keys import KeyRing
from tagtrail.auth.model import Grant
from tagtrail.auth.scopes import Scope
from tagtrail.errors import Unauthorized
from tagtrail.times import format_timestamp

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


@dataclass(frozen=True, slots=True)
class _Recognised:
    verified: VerifiedToken
    until: float  # the token's exp plus the leeway: jwt.decode's bound
    kid: str  # the key that signed it, which must still be trusted


def _until(_token: str, recognised: _Recognised, _now: float) -> float:
    return recognised.until


class TokenAuthority:
    """Issues and verifies tokens, by ``clock`` (seconds since the epoch; tests move it).

    Access tokens this process verified are recognised by their text until they expire: a
    client sends the same token with every request, and checking its ES256 signature costs
    about 100 us, five times a whole manifest GET. What the check proved (signature, issuer,
    audience) holds as long as the signing key is trusted, so a token is checked once; its
    expiry is checked on every use (by the cache's timer, the clock), and its key must still
    be in the ring. The scopes are the token's own, read per request from its grants. The
    cache drops the least recently used token when full, so a flood of new tokens never
    wipes the ones in use; a token that fails its check is never cached."""

    RECENT_TOKENS = 4096

    def __init__(
        self,
        keys: KeyRing,
        *,
        issuer: str,
        service: str,
        ttl: int,
        refresh_ttl: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self.issuer = issuer
        self.service = service
        self.ttl = ttl
        self.refresh_ttl = refresh_ttl
        self._clock = clock
        self._recent: TLRUCache[str, _Recognised] = TLRUCache(
            maxsize=self.RECENT_TOKENS, ttu=_until, timer=clock
        )

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims,
            self._keys.signing_key,
            algorithm=ALGORITHM,
            headers={"kid": self._keys.signing_kid},
        )

    def _base_claims(self, subject: str, lifetime: int) -> dict[str, Any]:
        now = int(self._clock())
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
        issued_at = format_timestamp(claims["iat"] * 1000, timespec="seconds")
        return IssuedToken(self._sign(claims), self.ttl, issued_at)

    def issue_refresh(self, subject: str, not_after: int | None = None) -> str:
        lifetime = self.refresh_ttl
        if not_after is not None:
            lifetime = max(0, min(lifetime, not_after - int(self._clock())))
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
        try:
            # Not .get(): cachetools' get costs 2.1 us, indexing 0.3 us (a request is ~25 us).
            recognised = self._recent[token]
        except KeyError:
            pass
        else:
            if recognised.kid in self._keys.verifying:
                return recognised.verified
        claims, kid = self._decode_with_kid(token)
        verified = self._access(claims)
        # jwt.decode judged the expiry by the system's clock; this authority's may be ahead.
        until = float(claims["exp"]) + _LEEWAY_SECONDS
        if until <= self._clock():
            raise Unauthorized("token rejected: Signature has expired")
        self._recent[token] = _Recognised(verified, until, kid)
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

    def recognised(self, token: str) -> tuple[float, str] | None:
        """Until when, and by which key, a token ``verify`` accepted is recognised (None: not
        one it holds). What it allowed may be given again while ``still_recognised``."""
        found = self._recent.get(token)
        return None if found is None else (found.until, found.kid)

    def still_recognised(self, until: float, kid: str) -> bool:
        """What ``verify`` checks on every use of a token it knows: not expired, the key that
        signed it still trusted."""
        return self._clock() < until and kid in self._keys.verifying

    def verify_refresh(self, token: str) -> str:
        claims = self._decode(token)
        if claims.get("typ") != "refresh":
            raise Unauthorized("not a refresh token")
        return str(claims["sub"])
