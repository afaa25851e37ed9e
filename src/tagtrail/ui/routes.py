"""The pages: repositories, a repository's tags, a tag's history, a digest, and sign-in.

Every page asks the same Guard as the API: anonymous visitors get what the anonymous principal
is granted (public repositories, the public tags of free-tier ones); a signed-in session gets
its principal's grants. A repository, tag or digest the viewer may not read answers exactly as
a missing one (404). The UI reads through the Registry use cases and the MetadataStore.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from jinja2 import Environment, FileSystemLoader
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from tagtrail.api.auth import Caller, Guard
from tagtrail.auth.model import ANONYMOUS, PULL, Grant, Visibility
from tagtrail.errors import InvalidInput, TimestampInvalid, Unauthorized
from tagtrail.registry.service import Registry
from tagtrail.types import (
    Digest,
    HistoryRecord,
    RepoName,
    RepositorySummary,
    Tag,
    format_timestamp,
    parse_instant,
    parse_name,
    parse_tag,
    to_millis,
)
from tagtrail.ui import present, session
from tagtrail.ui.history import HistoryRow, history_rows, marks
from tagtrail.ui.sizes import Sizes

HERE = Path(__file__).parent
REPOSITORY_PAGE = 100
TAG_PAGE = 100
HISTORY_PAGE = 100
MAX_FORM_BYTES = 16 * 1024

TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters["size"] = present.human_size
TEMPLATES.filters["duration"] = present.human_duration
TEMPLATES.filters["timestamp"] = present.timestamp
TEMPLATES.filters["kind"] = present.kind

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class _Missing(Exception):
    """Not there, or not the viewer's to see: both answer 404 alike."""


class _Forbidden(Exception):
    """A form without a valid CSRF token, or from another origin."""


# Paths ------------------------------------------------------------------------------------


def repo_url(name: str) -> str:
    return f"/repo/{quote(name)}"


def tag_url(name: str, tag: str) -> str:
    return f"/repo/{quote(name)}/-/tag/{quote(tag)}"


def digest_url(name: str, digest: object) -> str:
    return f"/repo/{quote(name)}/-/digest/{quote(str(digest))}"


TEMPLATES.globals.update(repo_url=repo_url, tag_url=tag_url, digest_url=digest_url)


# The viewer -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Viewer:
    caller: Caller
    user: str | None  # the signed-in principal's name
    auth: bool  # whether the server checks access at all


def _guard(request: Request) -> Guard:
    found: Guard = request.app.state.guard
    return found


def _registry(request: Request) -> Registry:
    found: Registry = request.app.state.registry
    return found


async def viewer(request: Request) -> Viewer:
    guard = _guard(request)
    if not guard.enabled:
        return Viewer(Caller(unrestricted=True), None, auth=False)
    assert guard.policy is not None
    subject = session.current(request).subject
    principal = await guard.policy.principal(subject) if subject else None
    if principal is None or principal.kind == "anonymous":
        return Viewer(Caller(principal=ANONYMOUS), None, auth=True)
    return Viewer(Caller(principal=principal), principal.name, auth=True)


async def _readable(request: Request, who: Viewer, raw_name: str) -> tuple[RepoName, Grant]:
    name = parse_name(raw_name)
    grant = await _guard(request).grant(who.caller, "repository", name)
    if grant is None or PULL not in grant.actions:
        raise _Missing
    if not await _registry(request).meta.repository_exists(name):
        raise _Missing
    return name, grant


def _tag_visible(grant: Grant, tag: str) -> bool:
    return grant.tag_limits is None or Visibility("public-tags", grant.tag_limits).tag_is_public(
        tag
    )


async def _digest_visible(request: Request, grant: Grant, name: RepoName, digest: Digest) -> bool:
    if grant.tag_limits is None:
        return True
    policy = _guard(request).policy
    assert policy is not None
    return await policy.within_tag_limits(name, grant.tag_limits, tag=None, digest=digest)


def registry_host(request: Request) -> str:
    """The host:port images are pulled from, for pinned references."""
    external: str | None = request.app.state.settings.external_url
    if external:
        return external.split("://", 1)[-1].rstrip("/")
    return request.url.netloc


# Rendering --------------------------------------------------------------------------------


def _respond(request: Request, response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    current = session.current(request)
    if current.fresh:
        session.store(request, response, current)
    return response


def render(
    request: Request, who: Viewer, template: str, status: int = 200, **context: Any
) -> Response:
    page = TEMPLATES.get_template(template).render(
        viewer=who,
        csrf=session.current(request).csrf,
        path=request.url.path,
        **context,
    )
    return _respond(request, HTMLResponse(page, status_code=status))


Handler = Callable[[Request, Viewer], Awaitable[Response]]


def page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A page handler: resolves the viewer; a missing or hidden thing renders the 404 page."""

    async def endpoint(request: Request) -> Response:
        who = await viewer(request)
        try:
            return await handler(request, who)
        except (_Missing, InvalidInput):
            return render(request, who, "missing.html", status=404)
        except _Forbidden:
            return render(request, who, "forbidden.html", status=403)

    return endpoint


# Pages ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RepositoryRow:
    name: str
    tag_count: int
    last_update_ms: int | None


@page
async def repositories(request: Request, who: Viewer) -> Response:
    guard, registry = _guard(request), _registry(request)
    query = request.query_params.get("q", "").strip()[:255]
    cursor = request.query_params.get("after") or None
    visible: list[tuple[str, Grant]] = []
    more = False
    while not more:
        batch = await registry.manifests.repositories(500, cursor)
        for name in batch:
            if query and query.lower() not in name:
                continue
            grant = await guard.grant(who.caller, "repository", name)
            if grant is None or PULL not in grant.actions:
                continue
            if len(visible) == REPOSITORY_PAGE:
                more = True
                break
            visible.append((name, grant))
        if len(batch) < 500:
            break
        cursor = batch[-1]
    open_names = [name for name, grant in visible if grant.tag_limits is None]
    summaries = {s.name: s for s in await registry.meta.repository_summaries(open_names)}
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
    details = await _registry(request).meta.tag_details(RepoName(name), None, None)
    shown = [d for d in details if _tag_visible(grant, d.tag)]
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
    name, grant = await _readable(request, who, request.path_params["name"])
    meta = _registry(request).meta
    after = request.query_params.get("after") or None
    if grant.tag_limits is None:
        details = await meta.tag_details(name, TAG_PAGE + 1, after)
    else:
        every = await meta.tag_details(name, None, after)
        details = [d for d in every if _tag_visible(grant, d.tag)]
    more = len(details) > TAG_PAGE
    details = details[:TAG_PAGE]
    sizes = Sizes(meta, name)
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
    name, grant = await _readable(request, who, request.path_params["name"])
    tag = parse_tag(request.path_params["tag"])
    if not _tag_visible(grant, tag):
        raise _Missing
    registry = _registry(request)
    if not await registry.meta.tag_has_history(name, tag):
        raise _Missing
    raw_before = request.query_params.get("before", "")
    before = int(raw_before) if raw_before.isascii() and raw_before.isdigit() else None
    page_ = await registry.history.events(
        name, tag, limit=HISTORY_PAGE, before_ms=before, since_ms=None, digest=None
    )
    newer: HistoryRecord | None = None
    if before is not None:
        # The record just newer than this page ends the stay of the page's newest one.
        found = await registry.meta.history(name, tag, start_ms=before, end_ms=None, limit=1)
        newer = found[0] if found else None
    rows = await history_rows(
        registry.meta,
        name,
        tag,
        page_.records,
        newer=newer,
        older_exist=page_.next_cursor_ms is not None,
        now_ms=int(time.time() * 1000),
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
        older=page_.next_cursor_ms,
        paged=before is not None,
        answer=answer,
        at_value=request.query_params.get("at", ""),
        at_invalid=at_invalid,
    )


async def _answer(request: Request, name: RepoName, tag: Tag) -> Answer | None:
    """What ``tag`` pointed to at the ``at`` query parameter (UTC when it names no offset)."""
    raw = request.query_params.get("at", "").strip()
    if not raw:
        return None
    at_ms = to_millis(parse_instant(raw))
    found = await _registry(request).meta.history(
        name, tag, start_ms=None, end_ms=at_ms, limit=1, newest_first=True
    )
    return Answer(at_ms, found[0] if found else None)


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
    name, grant = await _readable(request, who, request.path_params["name"])
    digest = Digest.parse(request.path_params["digest"])
    if not await _digest_visible(request, grant, name, digest):
        raise _Missing
    meta = _registry(request).meta
    stored = await meta.get_manifest(name, digest)
    if stored is None:
        raise _Missing
    view = present.describe(stored.media_type, stored.content)
    referrers = [
        referrer
        for referrer in await meta.referrers(name, digest, None)
        if await _digest_visible(request, grant, name, referrer.digest)
    ]
    named = [tag for tag in await meta.tags_naming(name, digest) if _tag_visible(grant, tag)]
    sizes = Sizes(meta, name)
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


# Sign-in ----------------------------------------------------------------------------------


def _safe_next(raw: str) -> str:
    """Only a path on this site: never another origin (open redirect)."""
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or not raw.startswith("/") or raw.startswith("//"):
        return "/"
    if "\\" in raw:
        return "/"
    return raw


async def _form(request: Request) -> dict[str, str]:
    """A url-encoded form from a same-origin page that carries the session's CSRF token."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise _Forbidden
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise _Forbidden
    fields = {k: v[0] for k, v in parse_qs(body.decode(errors="replace")).items()}
    raw_cookie = request.cookies.get(session.COOKIE)
    current = session.current(request)
    if not raw_cookie or current.fresh or not current.csrf_matches(fields.get("csrf", "")):
        raise _Forbidden
    return fields


@page
async def login_form(request: Request, who: Viewer) -> Response:
    next_path = _safe_next(request.query_params.get("next", "/"))
    return render(request, who, "login.html", next_path=next_path, error=None, username="")


@page
async def login(request: Request, who: Viewer) -> Response:
    fields = await _form(request)
    next_path = _safe_next(fields.get("next", "/"))
    guard = _guard(request)
    if not guard.enabled:
        return _respond(request, RedirectResponse(next_path, status_code=303))
    assert guard.policy is not None
    username, password = fields.get("username", ""), fields.get("password", "")
    try:
        principal = await guard.policy.authenticate(username, password)
    except Unauthorized:
        return render(
            request,
            who,
            "login.html",
            status=401,
            next_path=next_path,
            error="Unknown user or pull token, or wrong password.",
            username=username,
        )
    # A new session (and CSRF token) on sign-in: a planted cookie is never promoted.
    response = RedirectResponse(next_path, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    session.store(request, response, session.Session.new(principal.subject))
    return response


@page
async def logout(request: Request, who: Viewer) -> Response:
    await _form(request)
    response = RedirectResponse("/", status_code=303)
    response.headers.update(SECURITY_HEADERS)
    session.store(request, response, session.Session.new())
    return response


ROUTES: list[BaseRoute] = [
    Route("/", repositories, methods=["GET", "HEAD"], name="ui-repositories"),
    Route("/login", login_form, methods=["GET", "HEAD"], name="ui-login-form"),
    Route("/login", login, methods=["POST"], name="ui-login"),
    Route("/logout", logout, methods=["POST"], name="ui-logout"),
    Route("/repo/{name:path}/-/tag/{tag}", tag_history, methods=["GET", "HEAD"]),
    Route("/repo/{name:path}/-/digest/{digest}", digest_page, methods=["GET", "HEAD"]),
    Route("/repo/{name:path}", repository, methods=["GET", "HEAD"], name="ui-repository"),
    Mount("/static", app=StaticFiles(directory=HERE / "static"), name="ui-static"),
]
