"""The /v2/<name>/... routes, found by their last path segments in one dictionary lookup.

Starlette tries its routes' regular expressions one after another: a manifest GET went through
fifteen of them, a third of the request's time when profiled. A registry path says what it is
in its last segments (``<name>/manifests/<reference>``, ``<name>/blobs/uploads/<id>``), and a
repository name may contain any of those words as components, so the segments are read from
the right: the rest is the name, exactly as the greedy ``{name:path}`` pattern would take it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from starlette._utils import get_route_path
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

Handler = Callable[[Request], Awaitable[Response]]
PREFIX = "/v2/"


@dataclass(frozen=True, slots=True)
class Tail:
    """One path shape: fixed trailing segments, the last of which may be a parameter
    (``None`` in ``segments``, named by ``parameter``)."""

    segments: tuple[str | None, ...]
    parameter: str | None
    handlers: Mapping[str, Handler]

    @classmethod
    def of(cls, pattern: str, handlers: Mapping[str, Handler]) -> Tail:
        """``"blobs/uploads/{upload_id}"``: literal segments, then at most one parameter."""
        parts = pattern.split("/")
        parameter = None
        if parts[-1].startswith("{"):
            parameter = parts[-1].strip("{}")
        segments = tuple(None if part.startswith("{") else part for part in parts)
        methods = dict(handlers)
        if "GET" in methods:
            methods.setdefault("HEAD", methods["GET"])  # as Starlette does
        return cls(segments, parameter, methods)


class RegistryRoutes(BaseRoute):
    """Every ``/v2/<name>/...`` route as one Starlette route; others go on to the next route."""

    def __init__(self, paths: list[Tail]) -> None:
        # Keyed by trailing segments (None for the parameter); longer shapes are tried first.
        # No path of the registry's fits two shapes, so the order of ``paths`` does not matter.
        self._paths: dict[tuple[str | None, ...], Tail] = {}
        for path in paths:
            if path.segments in self._paths:
                raise ValueError(f"two routes end in {path.segments}")
            self._paths[path.segments] = path
        self._lengths = sorted({len(key) for key in self._paths}, reverse=True)

    def _find(self, route_path: str) -> tuple[Tail, dict[str, str]] | None:
        if not route_path.startswith(PREFIX):
            return None
        rest = route_path[len(PREFIX) :]
        for length in self._lengths:
            parts = rest.rsplit("/", length)
            if len(parts) <= length:
                continue  # no name left in front
            tail = parts[1:]
            key = (*tail[:-1], None)
            path = self._paths.get(key)
            if path is not None and tail[-1]:
                return path, {"name": parts[0], path.parameter or "": tail[-1]}
            path = self._paths.get(tuple(tail))
            if path is not None:
                return path, {"name": parts[0]}
        return None

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        found = self._find(get_route_path(scope))
        if found is None:
            return Match.NONE, {}
        path, params = found
        merged = {**scope.get("path_params", {}), **params}
        handler = path.handlers.get(scope["method"])
        if handler is None:  # the path exists: 405 unless a later route takes the method
            allow = ", ".join(sorted(path.handlers))
            return Match.PARTIAL, {"endpoint": None, "allow": allow, "path_params": merged}
        return Match.FULL, {"endpoint": handler, "path_params": merged}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler: Handler | None = scope["endpoint"]
        if handler is None:
            raise HTTPException(status_code=405, headers={"Allow": scope["allow"]})
        # Exceptions go up to the app's one error mapping (api/errors.py), installed by
        # Starlette's exception middleware around the router.
        response = await handler(Request(scope, receive, send))
        await response(scope, receive, send)
