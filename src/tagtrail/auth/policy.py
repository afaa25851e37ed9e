"""Who may do what: authentication of credentials and the grant for each requested scope."""

from __future__ import annotations

from tagtrail.accounts import PRIVATE, Visibility, organisation_of
from tagtrail.auth.login_cache import LoginCache
from tagtrail.auth.model import (
    ALL,
    ANONYMOUS,
    DELETE,
    PULL,
    PUSH,
    ROLE_ACTIONS,
    Grant,
    Principal,
)
from tagtrail.auth.scopes import Scope
from tagtrail.auth.secrets import secret_matches, token_id_of
from tagtrail.clock import Clock, now_ms
from tagtrail.errors import NameInvalid, Unauthorized
from tagtrail.meta.accounts import AccountStore
from tagtrail.meta.store import HistoryStore, RepositoryStore
from tagtrail.types import Digest, RepoName, parse_name

EVERY_ACTION = frozenset({PULL, PUSH, DELETE})


class AccessPolicy:
    def __init__(
        self,
        accounts: AccountStore,
        repositories: RepositoryStore,
        history: HistoryStore,
        *,
        clock: Clock = now_ms,  # what pull token expiry is judged by (tests move it)
    ) -> None:
        self._accounts = accounts
        self._repositories = repositories
        self._history = history
        self._clock = clock
        self._logins = LoginCache()

    # Authentication -------------------------------------------------------------------------

    async def authenticate(self, username: str, password: str) -> Principal:
        """Basic credentials: a user and password, or a pull token id and its secret."""
        if token_id_of(password) == username:
            principal = await self.pull_token(password)
            if principal is not None:
                return principal
            raise Unauthorized("invalid credentials", basic=True)
        # The account is read on every login, so a removed user or a changed password (its
        # stored hash is part of the cache key) is refused at once, from any process.
        user = await self._accounts.get_user(username)
        if user is None or not await self._logins.verify(user.name, user.password_hash, password):
            raise Unauthorized("invalid credentials", basic=True)
        return Principal("user", user.name, is_admin=user.is_admin)

    async def pull_token(self, secret: str) -> Principal | None:
        """The pull token a secret belongs to, when it is valid now."""
        token_id = token_id_of(secret)
        if token_id is None:
            return None
        record = await self._accounts.get_pull_token(token_id)
        if record is None or not secret_matches(record.secret_sha256, secret):
            return None
        if not record.valid_at(self._clock()):
            return None
        return Principal(
            "pull_token", record.id, organisation=record.organisation, can_push=record.can_push
        )

    async def principal(self, subject: str) -> Principal | None:
        """The principal a token subject names, as the accounts stand now (refresh tokens)."""
        kind, _, name = subject.partition(":")
        if subject == "anonymous":
            return ANONYMOUS
        if kind == "user":
            user = await self._accounts.get_user(name)
            return None if user is None else Principal("user", user.name, is_admin=user.is_admin)
        if kind == "token":
            record = await self._accounts.get_pull_token(name)
            if record is None or not record.valid_at(self._clock()):
                return None
            return Principal(
                "pull_token", record.id, organisation=record.organisation, can_push=record.can_push
            )
        return None

    # Authorisation --------------------------------------------------------------------------

    async def grant(self, principal: Principal, scope: Scope) -> Grant | None:
        """The part of ``scope`` the principal may have (None: nothing of it)."""
        if scope.type == "registry" and scope.name == "catalog":
            # Everyone may list; the listing shows only what the caller can see.
            return Grant(frozenset({ALL})) if scope.actions & {ALL} else None
        if scope.type != "repository":
            return None
        try:
            name = parse_name(scope.name)
        except NameInvalid:
            return None
        allowed = await self._member_actions(principal, name)
        limits: tuple[str, ...] | None = None
        if PULL not in allowed:
            visibility = await self._accounts.repository_visibility(name) or PRIVATE
            # Public access to a repository that does not exist is not granted, so that a
            # missing repository answers exactly as a private one does.
            if visibility.kind != "private" and await self._repositories.repository_exists(name):
                allowed = allowed | {PULL}
                limits = visibility.tags if visibility.kind == "public-tags" else None
        requested = EVERY_ACTION if ALL in scope.actions else scope.actions
        actions = requested & allowed
        if not actions:
            return None
        return Grant(frozenset(actions), limits if PULL in actions else None)

    async def _member_actions(self, principal: Principal, name: RepoName) -> frozenset[str]:
        if principal.is_admin:
            return EVERY_ACTION
        organisation = organisation_of(name)
        if principal.kind == "user":
            role = await self._accounts.role_of(organisation, principal.name)
            return ROLE_ACTIONS[role] if role else frozenset()
        if principal.kind == "pull_token" and principal.organisation == organisation:
            return frozenset({PULL, PUSH}) if principal.can_push else frozenset({PULL})
        return frozenset()

    async def administers(self, principal: Principal, organisation: str) -> bool:
        """Whether ``principal`` administers ``organisation`` (its tag rules): the server's
        admins and the organisation's admin members; pull tokens never."""
        if principal.is_admin:
            return True
        if principal.kind != "user":
            return False
        return await self._accounts.role_of(organisation, principal.name) == "admin"

    async def within_tag_limits(
        self, name: RepoName, patterns: tuple[str, ...], *, tag: str | None, digest: Digest | None
    ) -> bool:
        """For a pull right from public tags only: is this tag, or this digest, one of theirs?"""
        public = Visibility("public-tags", patterns)
        if tag is not None:
            return public.tag_is_public(tag)
        if digest is None:
            return False
        tags = [t for t in await self._history.history_tags(name) if public.tag_is_public(t)]
        return await self._history.reachable_from_tags(name, tags, digest)
