"""The repository a pull (manifest or blob GET/HEAD) names, with a mirror client's forms
mapped (``registry.mirror_names``): the one place the API reads a pull's name, before
authorisation, so that the scope checked is the mapped name's. Pushes read theirs with
``repo_name``, unmapped."""

from __future__ import annotations

from starlette.requests import Request

from tagtrail.api.http import repo_name
from tagtrail.registry.mirror_upstreams import Mirrored
from tagtrail.types import RepoName
from tagtrail.web import state


async def pull_target(request: Request) -> tuple[RepoName, Mirrored | None]:
    """The pull's repository, and that repository as a mirrored one (None: not mirrored)."""
    name = repo_name(request)
    mirroring = state.registry(request).mirroring
    if mirroring is None:
        return name, None
    # containerd's mirror form: ?ns=<the registry the image reference named>. The query is
    # parsed only when there is one: a pull's hot path has none.
    ns = request.query_params.get("ns") if request.scope.get("query_string") else None
    return await mirroring.names.resolve(name, ns)
