"""The pages: repositories, a repository's tags, a tag's history and a digest; and the UI's
routes, sign-in's (ui/signin.py) among them.

Every page asks the same Guard as the API (ui/access.py): a repository, tag or digest the viewer
may not read answers exactly as a missing one (404). The UI reads through the Registry's use
cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from tagtrail.auth.model import Grant
from tagtrail.clock import now_ms
from tagtrail.errors import TimestampInvalid
from tagtrail.times import format_timestamp, parse_instant, to_millis
from tagtrail.types import (
    Digest,
    HistoryRecord,
    RepoName,
    RepositorySummary,
    Tag,
    parse_tag,
)
from tagtrail.ui import present, restore, signin
from tagtrail.ui.access import (
    Missing,
    Viewer,
    digest_visible,
    pull_grant,
    readable,
    tag_visible,
)
from tagtrail.ui.history import HistoryRow, history_rows, marks, mirror_upstream
from tagtrail.ui.render import page, render
from tagtrail.ui.sizes import Sizes
from tagtrail.web import state
from tagtrail.web.actors import may_push

REPOSITORY_PAGE = 100
TAG_PAGE = 100
HISTORY_PAGE = 100


def registry_host(request: Request) -> str:
    """The host:port images are pulled from, for pinned references."""
    external: str | None = request.app.state.settings.external_url
    if external:
        return external.split("://", 1)[-1].rstrip("/")
    return request.url.netloc


# Pages ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RepositoryRow:
    name: str
    tag_count: int
    last_update_ms: int | None


@page
async def repositories(request: Request, who: Viewer) -> Response:
    registry = state.registry(request)
    query = request.query_params.get("q", "").strip()[:255]
    cursor = request.query_params.get("after") or None
    visible: list[tuple[str, Grant]] = []
    more = False
    while not more:
        batch = await registry.manifests.repositories(500, cursor)
        for name in batch:
            if query and query.lower() not in name:
                continue
            grant = await pull_grant(request, who, name)
            if grant is None:
                continue
            if len(visible) == REPOSITORY_PAGE:
                more = True
                break
            visible.append((name, grant))
        if len(batch) < 500:
            break
        cursor = batch[-1]
    open_names = [name for name, grant in visible if grant.tag_limits is None]
    summaries = {s.name: s for s in await registry.browsing.summaries(open_names)}
    rows = []
    for name, grant in visible:
        summary = summaries.get(name) or await _limited_summary(request, name, grant)
        rows.append(RepositoryRow(name, summary.tag_count, summary.last_update_ms))
    return render(
        request,
        who,
        "repositories.html",
        rows=rows,
        query=query,
        next_after=visible[-1][0] if more and visible else None,
    )


async def _limited_summary(request: Request, name: str, grant: Grant) -> RepositorySummary:
    """The summary of a repository of which the viewer sees some tags only."""
    details = await state.registry(request).browsing.tags(RepoName(name), None, None)
    shown = [d for d in details if tag_visible(grant, d.tag)]
    last = max((d.updated_ms for d in shown), default=None)
    return RepositorySummary(name, len(shown), last)


@dataclass(frozen=True, slots=True)
class TagRow:
    tag: str
    digest: str
    kind: str
    media_type: str
    platforms: list[str]
    size: int | None
    updated_ms: int


@page
async def repository(request: Request, who: Viewer) -> Response:
    name, grant = await readable(request, who, request.path_params["name"])
    browsing = state.registry(request).browsing
    after = request.query_params.get("after") or None
    if grant.tag_limits is None:
        details = await browsing.tags(name, TAG_PAGE + 1, after)
    else:
        every = await browsing.tags(name, None, after)
        details = [d for d in every if tag_visible(grant, d.tag)]
    more = len(details) > TAG_PAGE
    details = details[:TAG_PAGE]
    sizes = Sizes(browsing, name)
    rows = []
    for detail in details:
        view = present.describe(detail.media_type, detail.content)
        sizes.know(str(detail.digest), view)
        rows.append(
            TagRow(
                detail.tag,
                str(detail.digest),
                view.kind,
                detail.media_type,
                view.platforms,
                await sizes.of(str(detail.digest)),
                detail.updated_ms,
            )
        )
    return render(
        request,
        who,
        "repository.html",
        name=name,
        rows=rows,
        next_after=details[-1].tag if more else None,
    )


@dataclass(frozen=True, slots=True)
class Answer:
    at_ms: int
    record: HistoryRecord | None


@page
async def tag_history(request: Request, who: Viewer) -> Response:
    name, grant = await readable(request, who, request.path_params["name"])
    tag = parse_tag(request.path_params["tag"])
    if not tag_visible(grant, tag):
        raise Missing
    registry = state.registry(request)
    if not await registry.browsing.has_history(name, tag):
        raise Missing
    raw_before = request.query_params.get("before", "")
    before = int(raw_before) if raw_before.isascii() and raw_before.isdigit() else None
    page_ = await registry.history.events(
        name, tag, limit=HISTORY_PAGE, before_ms=before, since_ms=None, digest=None
    )
    newer: HistoryRecord | None = None
    if before is not None:
        # The record just newer than this page ends the stay of the page's newest one.
        newer = await registry.browsing.record_from(name, tag, before)
    rows = await history_rows(
        registry.browsing,
        name,
        tag,
        page_.records,
        newer=newer,
        older_exist=page_.next_cursor_ms is not None,
        now_ms=now_ms(),
    )
    width, placed = marks(rows)
    try:
        answer, at_invalid = await _answer(request, name, tag), False
    except TimestampInvalid:
        answer, at_invalid = None, True
    return render(
        request,
        who,
        "tag.html",
        name=name,
        tag=tag,
        rows=rows,
        marks=placed,
        timeline_width=width,
        span=_span(rows),
        host=registry_host(request),
        upstream=await mirror_upstream(registry, name),
        older=page_.next_cursor_ms,
        paged=before is not None,
        answer=answer,
        at_value=request.query_params.get("at", ""),
        at_invalid=at_invalid,
        # Who moved the tag, and "restore this", for those who may push (as the API's
        # _oci/tag-history annotations): a public reader sees no user names.
        sees_actors=await may_push(state.guard(request), who.caller, name),
        restore_url=restore.restore_url,
    )


async def _answer(request: Request, name: RepoName, tag: Tag) -> Answer | None:
    """What ``tag`` pointed to at the ``at`` query parameter (UTC when it names no offset)."""
    raw = request.query_params.get("at", "").strip()
    if not raw:
        return None
    at_ms = to_millis(parse_instant(raw))
    return Answer(at_ms, await state.registry(request).browsing.record_at(name, tag, at_ms))


def _span(rows: list[HistoryRow]) -> tuple[str, str]:
    """The first and last instants the timeline shows."""
    if not rows:
        return "", ""
    return (
        format_timestamp(rows[-1].record.timestamp_ms),
        format_timestamp(rows[0].record.timestamp_ms),
    )


@page
async def digest_page(request: Request, who: Viewer) -> Response:
    name, grant = await readable(request, who, request.path_params["name"])
    digest = Digest.parse(request.path_params["digest"])
    if not await digest_visible(request, grant, name, digest):
        raise Missing
    browsing = state.registry(request).browsing
    stored = await browsing.manifest(name, digest)
    if stored is None:
        raise Missing
    view = present.describe(stored.media_type, stored.content)
    referrers = [
        referrer
        for referrer in await browsing.referrers(name, digest)
        if await digest_visible(request, grant, name, referrer.digest)
    ]
    named = [tag for tag in await browsing.tags_naming(name, digest) if tag_visible(grant, tag)]
    sizes = Sizes(browsing, name)
    sizes.know(str(digest), view)
    shown = [str(digest), *(c.digest for c in view.children), *(str(r.digest) for r in referrers)]
    return render(
        request,
        who,
        "digest.html",
        name=name,
        digest=str(digest),
        media_type=stored.media_type,
        manifest_size=len(stored.content),
        sizes={shown_digest: await sizes.of(shown_digest) for shown_digest in shown},
        view=view,
        referrers=referrers,
        referrer_annotations={str(r.digest): _annotations(r.annotations_json) for r in referrers},
        tags=named,
        host=registry_host(request),
    )


def _annotations(raw: str | None) -> list[tuple[str, str]]:
    if not raw:
        return []
    return present.describe("", f'{{"annotations": {raw}}}'.encode()).annotations


ROUTES: list[BaseRoute] = [
    Route("/", repositories, methods=["GET", "HEAD"], name="ui-repositories"),
    *signin.ROUTES,
    *restore.ROUTES,
    Route("/repo/{name:path}/-/tag/{tag}", tag_history, methods=["GET", "HEAD"]),
    Route("/repo/{name:path}/-/digest/{digest}", digest_page, methods=["GET", "HEAD"]),
    Route("/repo/{name:path}", repository, methods=["GET", "HEAD"], name="ui-repository"),
    Mount("/static", app=StaticFiles(directory=Path(__file__).parent / "static"), name="ui-static"),
]
