"""Who a request's caller is in the tag history (``types.MoveBy.actor``), and whether it may
see who moved tags.

The actor names the account behind the credentials: a user by name, a pull (or push) token as
``token:<id>``, ``anonymous`` where the server checks no access. A token from ``/token`` names
its subject, read off the token itself (no account lookup on a push).

Actors are user names: only callers whose account may push to the repository see them (the
people who could move its tags anyway), never a public repository's readers. The account's
rights count, not only what a token's scopes carry: ``tagtrail history`` asks for a pull token,
and its user may still see who moved the tags it could move itself.
"""

from __future__ import annotations

from tagtrail.auth.model import ALL, PUSH
from tagtrail.auth.scopes import Scope
from tagtrail.types import RepoName
from tagtrail.web.guard import Caller, Guard

ANONYMOUS_ACTOR = "anonymous"


def _actor_of_subject(subject: str) -> str:
    """A token's ``sub`` (``user:<name>``, ``token:<id>``, ``anonymous``) as an actor."""
    kind, _, name = subject.partition(":")
    return name if kind == "user" and name else subject


def actor_of(caller: Caller) -> str | None:
    """The actor a tag move by ``caller`` records; None when it names nobody known."""
    if caller.unrestricted:
        return ANONYMOUS_ACTOR
    if caller.token is not None:
        return _actor_of_subject(caller.token.subject)
    if caller.principal is None:
        return None
    return _actor_of_subject(caller.principal.subject)


async def may_push(guard: Guard, caller: Caller, name: RepoName) -> bool:
    """Whether the account behind ``caller`` may push to ``name`` (with auth off: everyone)."""
    if caller.unrestricted:
        return True
    grant = await guard.grant(caller, "repository", name)
    if grant is not None and PUSH in grant.actions:
        return True
    if caller.token is None:  # Basic, a pull token's secret, a UI session: that was the account
        return False
    who = await guard.identity(caller)
    if who is None or who.kind == "anonymous" or guard.policy is None:
        return False
    live = await guard.policy.grant(who, Scope("repository", name, frozenset({ALL})))
    return live is not None and PUSH in live.actions
