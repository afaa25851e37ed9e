"""Who views a page, and what they may see: the API's Guard, asked for the viewer's session.

Anonymous visitors get what the anonymous principal is granted (public repositories, the public
tags of free-tier ones); a signed-in session gets its principal's grants. A repository, tag or
digest the viewer may not read raises ``Missing``, which answers exactly as a missing one (404).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from tagtrail.accounts import Visibility
from tagtrail.auth.model import ANONYMOUS, PULL, Grant
from tagtrail.types import Digest, RepoName, parse_name
from tagtrail.ui import session
from tagtrail.web import state
from tagtrail.web.guard import Caller


class Missing(Exception):
    """Not there, or not the viewer's to see: both answer 404 alike."""


@dataclass(frozen=True, slots=True)
class Viewer:
    caller: Caller
    user: str | None  # the signed-in principal's name
    auth: bool  # whether the server checks access at all


async def viewer(request: Request) -> Viewer:
    guard = state.guard(request)
    if not guard.enabled:
        return Viewer(Caller(unrestricted=True), None, auth=False)
    assert guard.policy is not None
    subject = session.current(request).subject
    principal = await guard.policy.principal(subject) if subject else None
    if principal is None or principal.kind == "anonymous":
        return Viewer(Caller(principal=ANONYMOUS), None, auth=True)
    return Viewer(Caller(principal=principal), principal.name, auth=True)


async def pull_grant(request: Request, who: Viewer, name: str) -> Grant | None:
    """The viewer's grant on ``name`` when it includes pull, else None."""
    grant = await state.guard(request).grant(who.caller, "repository", name)
    return grant if grant is not None and PULL in grant.actions else None


async def readable(request: Request, who: Viewer, raw_name: str) -> tuple[RepoName, Grant]:
    """The repository named in the path and the viewer's grant on it; Missing unless it
    exists and the viewer may pull it."""
    name = parse_name(raw_name)
    grant = await pull_grant(request, who, name)
    if grant is None:
        raise Missing
    if not await state.registry(request).browsing.exists(name):
        raise Missing
    return name, grant


def tag_visible(grant: Grant, tag: str) -> bool:
    return grant.tag_limits is None or Visibility("public-tags", grant.tag_limits).tag_is_public(
        tag
    )


async def digest_visible(request: Request, grant: Grant, name: RepoName, digest: Digest) -> bool:
    if grant.tag_limits is None:
        return True
    policy = state.guard(request).policy
    assert policy is not None
    return await policy.within_tag_limits(name, grant.tag_limits, tag=None, digest=digest)
