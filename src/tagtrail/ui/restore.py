"""The "Restore this" of a history row: a confirmation page (GET), then the form it holds (POST,
checked for its origin and the session's CSRF token as every form of the UI), which points
the tag back at the row's digest through the same use case as the API's restore endpoint.

Only viewers whose account may push to the repository are offered it or may post it; a viewer
who may not even read the repository gets the 404 a missing one gets.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from tagtrail.errors import NotFound, RegistryError
from tagtrail.registry.manifests import Reference
from tagtrail.types import Digest, RepoName, Tag, parse_tag
from tagtrail.ui.access import Missing, Viewer, readable, tag_visible
from tagtrail.ui.render import page, render, respond
from tagtrail.ui.signin import checked_form
from tagtrail.web import state
from tagtrail.web.actors import actor_of, may_push


def restore_url(name: str, tag: str, digest: object) -> str:
    """The confirmation page of restoring ``tag`` to ``digest``."""
    return f"/repo/{quote(name)}/-/tag/{quote(tag)}/restore?digest={quote(str(digest))}"


class Refused(Exception):
    """A restore the viewer may see but not make: its page says why, with ``status``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def _target(request: Request, who: Viewer, raw_digest: str) -> tuple[RepoName, Tag, Digest]:
    """The repository, tag and digest of a restore the viewer may make; Missing for what the
    viewer may not see or the tag never pointed to, Refused when it may see but not push."""
    name, grant = await readable(request, who, request.path_params["name"])
    tag = parse_tag(request.path_params["tag"])
    if not tag_visible(grant, tag):
        raise Missing
    digest = Digest.parse(raw_digest)
    if await state.registry(request).browsing.first_pointed_ms(name, tag, digest) is None:
        raise Missing
    if not await may_push(state.guard(request), who.caller, name):
        raise Refused(403, f"restoring {name}:{tag} needs push rights on {name}")
    return name, tag, digest


async def _current(request: Request, name: RepoName, tag: Tag) -> str | None:
    try:
        found = await state.registry(request).manifests.get(name, Reference(tag, None))
    except NotFound:
        return None
    return str(found.digest)


@page
async def confirm(request: Request, who: Viewer) -> Response:
    try:
        name, tag, digest = await _target(request, who, request.query_params.get("digest", ""))
    except Refused as refused:
        return render(request, who, "refused.html", status=refused.status, reason=refused.reason)
    return render(
        request,
        who,
        "restore.html",
        name=name,
        tag=tag,
        digest=str(digest),
        current=await _current(request, name, tag),
    )


@page
async def restore(request: Request, who: Viewer) -> Response:
    fields = await checked_form(request)
    try:
        name, tag, digest = await _target(request, who, fields.get("digest"))
        await state.registry(request).restore.to_digest(
            name, tag, digest, actor=actor_of(who.caller)
        )
    except Refused as refused:
        return render(request, who, "refused.html", status=refused.status, reason=refused.reason)
    except NotFound as exc:  # gone since the confirmation (deleted, collected)
        raise Missing from exc
    except RegistryError as exc:  # a mirror's repository, an immutable tag
        return render(request, who, "refused.html", status=exc.status, reason=exc.message)
    target = f"/repo/{quote(name)}/-/tag/{quote(tag)}"
    return respond(request, RedirectResponse(target, status_code=303))


ROUTES: list[BaseRoute] = [
    Route("/repo/{name:path}/-/tag/{tag}/restore", confirm, methods=["GET", "HEAD"]),
    Route("/repo/{name:path}/-/tag/{tag}/restore", restore, methods=["POST"]),
]
