"""Handlers for manifests, tags lists, the catalog and the referrers API."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tagtrail.accounts import Visibility
from tagtrail.api.http import (
    RawResponse,
    next_link,
    page_params,
    read_limited,
    repo_name,
    url_for,
)
from tagtrail.api.http_dates import http_date
from tagtrail.api.pull_names import pull_target
from tagtrail.auth.model import DELETE, PULL, PUSH
from tagtrail.errors import ManifestUnknown
from tagtrail.registry.manifests import Reference
from tagtrail.types import OCI_INDEX, Digest, parse_tag
from tagtrail.web import state
from tagtrail.web.actors import actor_of


async def get_manifest(request: Request) -> Response:
    name, mirrored = await pull_target(request)
    raw = request.path_params["reference"]
    reference = Reference.lookup(raw)
    # Authorisation first: a caller without pull learns nothing, not even that a reference is
    # malformed. A pull right limited to public tags takes ``raw`` as a tag name to match.
    if reference is None:
        await state.guard(request).require(request, name, PULL, tag=raw)
        # Neither a tag nor a digest names nothing stored: the spec's answer is 404.
        raise ManifestUnknown(detail={"reference": raw[:200]})
    await state.guard(request).require(
        request, name, PULL, tag=reference.tag, digest=reference.digest
    )
    registry = state.registry(request)
    warning = None
    if mirrored is None:
        found = await registry.manifests.get(name, reference)
    else:
        assert registry.mirroring is not None
        pulled = await registry.mirroring.pull.manifest(mirrored, reference)
        found, warning = pulled.manifest, pulled.warning
    digest = str(found.digest).encode()
    headers = [
        (b"content-length", b"%d" % len(found.content)),
        (b"content-type", found.media_type.encode("latin-1")),
        (b"docker-content-digest", digest),
        (b"etag", b'"%s"' % digest),
        # By tag: when the tag moved to this digest; by digest: when it was stored here. What
        # update bots read as a release's age (Dependabot's cooldown, Renovate's release age).
        (b"last-modified", http_date(found.modified_ms)),
    ]
    if warning is not None:  # served stale: the upstream could not be asked
        headers.append((b"warning", warning.encode("latin-1")))
    content = b"" if request.method == "HEAD" else found.content
    # Served from here, not an upstream's: the same pull gets it again until something
    # stored changes (api/pull_answers.py); a mirror's answer depends on its upstream too.
    return RawResponse(200, headers, content, reusable=mirrored is None)


async def put_manifest(request: Request) -> Response:
    name = repo_name(request)
    guard = state.guard(request)
    await guard.require(request, name, PUSH)
    reference = Reference.parse(request.path_params["reference"])
    # The spec's tags of a push by digest: ?tag=a&tag=b, all set in one transaction.
    tags = [parse_tag(raw) for raw in request.query_params.getlist("tag")]
    content = await read_limited(request, request.app.state.settings.max_manifest_bytes)
    result = await state.registry(request).manifests.put(
        name,
        reference,
        content,
        request.headers.get("content-type"),
        tags,
        actor=actor_of(await guard.caller(request)),
    )
    digest = result.manifest.digest
    response = Response(
        status_code=201,
        headers={
            "Location": url_for(request, f"/v2/{name}/manifests/{digest}"),
            "Docker-Content-Digest": str(digest),
            "Content-Length": "0",
        },
    )
    if result.manifest.subject is not None:
        response.headers["OCI-Subject"] = str(result.manifest.subject)
    if tags:
        for move in result.moves:  # one OCI-Tag header per tag set, as the spec asks
            response.headers.append("OCI-Tag", move.tag)
    return response


async def delete_manifest(request: Request) -> Response:
    name = repo_name(request)
    guard = state.guard(request)
    await guard.require(request, name, DELETE)
    reference = Reference.parse(request.path_params["reference"])
    actor = actor_of(await guard.caller(request))
    await state.registry(request).manifests.delete(name, reference, actor=actor)
    return Response(status_code=202)


async def list_tags(request: Request) -> Response:
    name = repo_name(request)
    limit, after = page_params(request)
    grant = await state.guard(request).require(request, name, PULL, filters_limits=True)
    if grant.tag_limits is None:
        # One extra row tells whether a next page exists without a second query.
        found = await state.registry(request).manifests.tags(name, _peek(limit), after)
    else:
        # Public tags only: the others are not the caller's to see, not even by name, so
        # they are dropped before the page is cut (and its Link decided).
        public = Visibility("public-tags", grant.tag_limits)
        every = await state.registry(request).manifests.tags(name, None, after)
        found = [tag for tag in every if public.tag_is_public(tag)]
    page, headers = _paged(found, limit, f"/v2/{name}/tags/list")
    return JSONResponse({"name": name, "tags": page}, headers=headers)


async def catalog(request: Request) -> Response:
    limit, after = page_params(request)
    checker = state.guard(request)
    caller = await checker.require_catalog(request)
    wanted = _peek(limit)
    found: list[str] = []
    # Read on past repositories the caller may not see until the page is full.
    while wanted is None or len(found) < wanted:
        batch = await state.registry(request).manifests.repositories(
            None if wanted is None else max(wanted, 100), after
        )
        found += [name for name in batch if await checker.can_see(caller, name)]
        if wanted is None or not batch or len(batch) < max(wanted, 100):
            break
        after = batch[-1]
    if wanted is not None:
        found = found[:wanted]
    page, headers = _paged(found, limit, "/v2/_catalog")
    return JSONResponse({"repositories": page}, headers=headers)


def _peek(limit: int | None) -> int | None:
    return None if limit is None else limit + 1


def _paged(found: list[str], limit: int | None, path: str) -> tuple[list[str], dict[str, str]]:
    """Cut a one-too-many listing to ``limit``, with a Link to the rest when there is more."""
    if limit is None or len(found) <= limit:
        return found, {}
    if limit == 0:
        return [], {}
    page = found[:limit]
    return page, {"Link": next_link(path, {"n": str(limit), "last": page[-1]})}


async def referrers(request: Request) -> Response:
    name = repo_name(request)
    subject = Digest.parse(request.path_params["digest"])
    await state.guard(request).require(request, name, PULL)
    artifact_type = request.query_params.get("artifactType") or None
    found = await state.registry(request).manifests.referrers(name, subject, artifact_type)
    descriptors = []
    for referrer in found:
        descriptor: dict[str, object] = {
            "mediaType": referrer.media_type,
            "digest": str(referrer.digest),
            "size": referrer.size,
        }
        if referrer.artifact_type:
            descriptor["artifactType"] = referrer.artifact_type
        if referrer.annotations_json:
            descriptor["annotations"] = json.loads(referrer.annotations_json)
        descriptors.append(descriptor)
    headers = {"Content-Type": OCI_INDEX}
    if artifact_type is not None:
        headers["OCI-Filters-Applied"] = "artifactType"
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
    return Response(json.dumps(index).encode(), status_code=200, headers=headers)
