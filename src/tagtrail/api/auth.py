"""Per-request authorisation: read the credentials, check the scopes a request needs.

A Bearer credential is either a token from ``/token`` (its ``access`` claim is the grant) or a
pull token's secret (granted live from the accounts, like a credential helper's secret). Basic
credentials (a user, or a pull token's id and secret) are granted live too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from dataclasses import dataclass, field

from starlette.requests import Request

from tagtrail.auth.model import ALL, DELETE, PULL, PUSH, Grant, Principal
from tagtrail.auth.policy import AccessPolicy
from tagtrail.auth.scopes import CATALOG, Scope
from tagtrail.auth.secrets import token_id_of
from tagtrail.auth.tokens import TokenAuthority, VerifiedToken
from tagtrail.errors import Unauthorized
from tagtrail.types import Digest, RepoName

_EVERYTHING = frozenset({PULL, PUSH, DELETE})
_UNRESTRICTED = Grant(_EVERYTHING | {ALL})  # what every request may do with auth off


@dataclass
class Caller:
    """What the request's credentials allow. ``principal`` is None for a token's bearer."""

    token: VerifiedToken | None = None
    principal: Principal | None = None
    unrestricted: bool = False
    _live: dict[str, Grant | None] = field(default_factory=dict)

    @property
    def presented_credentials(self) -> bool:
        return self.token is not None or self.principal is not None


class _BasicCache:
    """Recently verified user passwords. argon2 is slow on purpose; a client sending Basic
    on every request would pay it each time. Keyed by a hash, never the password itself, and
    short-lived, so a changed password stops working within seconds. Pull tokens are not
    cached: their check is a cheap hash, and a revocation must hold at once."""

    TTL_SECONDS = 10.0
    MAX_ENTRIES = 1024

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Principal | None]] = {}

    async def authenticate(
        self, policy: AccessPolicy, username: str, password: str
    ) -> Principal | None:
        if token_id_of(password) is not None:
            try:
                return await policy.authenticate(username, password)
            except Unauthorized:
                return None
        key = hashlib.sha256(f"{username}\0{password}".encode()).hexdigest()
        now = time.monotonic()
        found = self._entries.get(key)
        if found is not None and now - found[0] < self.TTL_SECONDS:
            return found[1]
        try:
            principal: Principal | None = await policy.authenticate(username, password)
        except Unauthorized:
            principal = None
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (now, principal)
        return principal


class Guard:
    def __init__(
        self, policy: AccessPolicy | None, authority: TokenAuthority | None, enabled: bool
    ) -> None:
        self.policy = policy
        self.authority = authority
        self.enabled = enabled
        self._basic_cache = _BasicCache()

    async def caller(self, request: Request) -> Caller:
        if not self.enabled:
            return Caller(unrestricted=True)
        cached: Caller | None = getattr(request.state, "caller", None)
        if cached is not None:
            return cached
        assert self.policy is not None and self.authority is not None
        header = request.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        caller = Caller()
        if scheme.lower() == "basic" and credential:
            # Not part of the token protocol, but what htpasswd registries, Harbor and Quay
            # accept, and what clients such as oras-py's basic backend and `curl -u` send.
            username, password = basic_credentials(request) or ("", "")
            principal = await self._basic_cache.authenticate(self.policy, username, password)
            caller = Caller(principal=principal) if principal is not None else Caller()
        elif scheme.lower() == "bearer" and credential:
            principal = await self.policy.pull_token(credential)
            if principal is not None:
                caller = Caller(principal=principal)
            else:
                try:
                    caller = Caller(token=self.authority.verify(credential))
                except Unauthorized:
                    # An invalid, expired or foreign token counts as none: the challenge
                    # then names the scopes, so the client can fetch a proper one.
                    caller = Caller()
        request.state.caller = caller
        return caller

    async def grant(self, caller: Caller, type_: str, name: str) -> Grant | None:
        if caller.unrestricted:
            return _UNRESTRICTED
        if caller.token is not None:
            return caller.token.grant(type_, name)
        if caller.principal is None:
            return None
        key = f"{type_}:{name}"
        if key not in caller._live:
            assert self.policy is not None
            scope = Scope(type_, name, frozenset({ALL}))
            caller._live[key] = await self.policy.grant(caller.principal, scope)
        return caller._live[key]

    async def require_login(self, request: Request) -> None:
        """``GET /v2/``: any valid credential (even an anonymous token), no scope."""
        caller = await self.caller(request)
        if not caller.unrestricted and not caller.presented_credentials:
            raise Unauthorized()

    async def require(
        self,
        request: Request,
        name: RepoName,
        *actions: str,
        tag: str | None = None,
        digest: Digest | None = None,
        also: tuple[Scope, ...] = (),
        filters_limits: bool = False,
    ) -> Grant:
        """The caller's grant on ``name`` when it holds ``actions``, else Unauthorized.

        With a pull right from public tags only, the ``tag`` or ``digest`` read must be one
        of theirs, unless the handler ``filters_limits`` itself (a listing). ``also`` are
        scopes to name in the challenge beside this one.
        """
        if not self.enabled:
            return _UNRESTRICTED
        caller = await self.caller(request)
        grant = await self.grant(caller, "repository", name)
        # A push reads too (HEAD before upload, mounts): challenge for both, as Distribution.
        needed = frozenset(actions) | ({PULL} if PUSH in actions else set())
        allowed = grant is not None and needed <= grant.actions
        limited = grant is not None and grant.tag_limits is not None and not filters_limits
        if (
            allowed
            and grant is not None
            and grant.tag_limits is not None
            and limited
            and PULL in needed
        ):
            assert self.policy is not None
            allowed = (
                tag is not None or digest is not None
            ) and await self.policy.within_tag_limits(
                name, grant.tag_limits, tag=tag, digest=digest
            )
        if not allowed or grant is None:
            scopes = (str(Scope("repository", name, needed)), *(str(s) for s in also))
            raise Unauthorized(scopes=scopes, insufficient=caller.presented_credentials)
        return grant

    async def require_catalog(self, request: Request) -> Caller:
        caller = await self.caller(request)
        if await self.grant(caller, CATALOG.type, CATALOG.name) is None:
            raise Unauthorized(scopes=(str(CATALOG),), insufficient=caller.presented_credentials)
        return caller

    async def can_see(self, caller: Caller, name: str) -> bool:
        """Whether the caller's account may pull ``name`` (for listings, not bound to the
        scopes its token happens to carry)."""
        if caller.unrestricted:
            return True
        assert self.policy is not None
        principal = caller.principal
        if principal is None and caller.token is not None:
            principal = await self.policy.principal(caller.token.subject)
        if principal is None:
            return False
        grant = await self.policy.grant(principal, Scope("repository", name, frozenset({PULL})))
        return grant is not None


def basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise Unauthorized("malformed basic credentials", basic=True) from exc
    username, sep, password = decoded.partition(":")
    if not sep:
        raise Unauthorized("malformed basic credentials", basic=True)
    return username, password
