"""Per-request authorisation: read the credentials, check the scopes a request needs.

A Bearer credential is either a token from ``/token`` (its ``access`` claim is the grant) or a
pull token's secret (granted live from the accounts, like a credential helper's secret). Basic
credentials (a user, or a pull token's id and secret) are granted live too.

A refusal is 401 with a challenge where logging in or a new token could help, and 403 DENIED,
naming the action, where the accounts deny it to a known caller; but a caller who may not even
pull a repository gets the 401 a missing one gets, so that private repositories stay unseen.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from starlette.requests import Request

from tagtrail.auth.model import ACTIONS_ORDER, ALL, DELETE, PULL, PUSH, Grant, Principal
from tagtrail.auth.policy import AccessPolicy
from tagtrail.auth.scopes import CATALOG, Scope
from tagtrail.auth.tokens import TokenAuthority, VerifiedToken
from tagtrail.errors import Denied, RegistryError, Unauthorized
from tagtrail.types import Digest, RepoName

_EVERYTHING = frozenset({PULL, PUSH, DELETE})
_UNRESTRICTED = Grant(_EVERYTHING | {ALL})  # what every request may do with auth off
_DENIED = {PULL: "pull from", PUSH: "push to", DELETE: "delete in"}
ReuseTerms = tuple[float, str]  # recognised until (the token's clock), the key that signed it
_ALWAYS: ReuseTerms = (float("inf"), "")


@dataclass
class Caller:
    """What the request's credentials allow. ``principal`` is None for a token's bearer."""

    token: VerifiedToken | None = None
    principal: Principal | None = None
    unrestricted: bool = False
    _live: dict[str, Grant | None] = field(default_factory=dict)
    _identity: Principal | None = None  # a token subject's, once looked up
    _identified: bool = False

    @property
    def presented_credentials(self) -> bool:
        return self.token is not None or self.principal is not None


class Guard:
    def __init__(
        self, policy: AccessPolicy | None, authority: TokenAuthority | None, enabled: bool
    ) -> None:
        self.policy = policy
        self.authority = authority
        self.enabled = enabled

    async def caller(self, request: Request) -> Caller:
        if not self.enabled:
            return Caller(unrestricted=True)
        # Kept in the scope's state dict (where ``request.state`` keeps it, and the access log
        # reads it), not through Starlette's State: its attribute hooks cost more than the
        # lookup, twice a request.
        state: dict[str, object] = request.scope.setdefault("state", {})
        cached = state.get("caller")
        if isinstance(cached, Caller):
            return cached
        assert self.policy is not None and self.authority is not None
        header = request.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        caller = Caller()
        if scheme.lower() == "basic" and credential:
            # Not part of the token protocol, but what htpasswd registries, Harbor and Quay
            # accept, and what clients such as oras-py's basic backend and `curl -u` send.
            # A user's password is checked once per few minutes (auth/login_cache.py), a pull
            # token's secret by a cheap hash on every request, so a revocation holds at once.
            username, password = basic_credentials(request) or ("", "")
            try:
                caller = Caller(principal=await self.policy.authenticate(username, password))
            except Unauthorized:
                caller = Caller()
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
        state["caller"] = caller
        return caller

    def reuse_terms(self, credential: str) -> ReuseTerms | None:
        """Until when what was allowed to the bearer of ``credential`` holds, as long as
        nothing stored changes: always with auth off; for a token, whose rights are its own,
        while it is recognised (``still_within``). None for anything else: Basic
        credentials and pull-token secrets are checked against the accounts every time."""
        if not self.enabled:
            return _ALWAYS
        assert self.authority is not None
        return self.authority.recognised(credential)

    def still_within(self, terms: ReuseTerms) -> bool:
        """Whether ``reuse_terms``' answer still holds (checked on every reuse)."""
        if not self.enabled:
            return True
        assert self.authority is not None
        return self.authority.still_recognised(*terms)

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
        """The caller's grant on ``name`` when it holds ``actions``; else Unauthorized, or
        Denied when the caller is known and no new token could help (see ``_refusal``).

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
        limits = (tag, digest, filters_limits)
        if grant is not None and await self._holds(grant, name, needed, *limits):
            return grant
        raise await self._refusal(caller, name, needed, *limits, also=also)

    async def _holds(
        self,
        grant: Grant,
        name: RepoName,
        needed: frozenset[str],
        tag: str | None,
        digest: Digest | None,
        filters_limits: bool,
    ) -> bool:
        if not needed <= grant.actions:
            return False
        if grant.tag_limits is None or filters_limits or PULL not in needed:
            return True
        if tag is None and digest is None:
            return False
        assert self.policy is not None
        return await self.policy.within_tag_limits(name, grant.tag_limits, tag=tag, digest=digest)

    async def _refusal(
        self,
        caller: Caller,
        name: RepoName,
        needed: frozenset[str],
        tag: str | None,
        digest: Digest | None,
        filters_limits: bool,
        *,
        also: tuple[Scope, ...],
    ) -> RegistryError:
        """401 with a challenge where credentials or a new token could help: no credentials,
        anonymous, an unknown subject, or a token short of what its subject may get. 401 too,
        the very answer a missing repository gets, when the caller may not even pull: a
        private repository stays invisible. Otherwise the caller is known, sees the
        repository, and the accounts deny the action: 403 DENIED, naming it."""
        scopes = (str(Scope("repository", name, needed)), *(str(s) for s in also))
        challenge = Unauthorized(scopes=scopes, insufficient=caller.presented_credentials)
        who = await self.identity(caller)
        if who is None or who.kind == "anonymous":
            return challenge
        if caller.token is None:  # Basic or a pull token's secret: the grant was the live one
            live = await self.grant(caller, "repository", name)
        else:
            assert self.policy is not None
            live = await self.policy.grant(who, Scope("repository", name, frozenset({ALL})))
        if live is None or PULL not in live.actions:
            return challenge
        limits = (tag, digest, filters_limits)
        if caller.token is not None and await self._holds(live, name, needed, *limits):
            return challenge  # the token predates a new right, or asked for less
        denied = [a for a in ACTIONS_ORDER if a in needed - live.actions]
        detail: dict[str, object] = {"repository": name, "denied": denied or [PULL]}
        if len(denied) == 1:
            what = f"{_DENIED[denied[0]]} {name}"
        elif denied:
            what = f"{' and '.join(denied)} on {name}"
        else:  # a pull right from public tags only, and this is none of theirs
            read = tag if tag is not None else str(digest) if digest is not None else None
            what = f"pull of {read} from {name}" if read else f"pull from {name}"
            detail["reason"] = "only the repository's public tags may be pulled"
            if read:
                detail["reference"] = read
        kind = "user" if who.kind == "user" else "pull token"
        return Denied(f"{what} denied for {kind} {who.name}", detail=detail)

    async def identity(self, caller: Caller) -> Principal | None:
        """Whom the credentials name, as the accounts stand now (None: nobody known)."""
        if caller.principal is not None or caller.token is None:
            return caller.principal
        if not caller._identified:
            assert self.policy is not None
            caller._identity = await self.policy.principal(caller.token.subject)
            caller._identified = True
        return caller._identity

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
        principal = await self.identity(caller)
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
