"""The /v2/<name>/... routes, found by their last path segments in one dictionary lookup.

Starlette tries its routes' regular expressions one after another: a manifest GET went through
fifteen of them, a third of the request's time when profiled. The app's dispatcher (api/app.py)
finds these paths here before Starlette sees the request. A registry path says what it is in
its last segments (``<name>/manifests/<reference>``, ``<name>/blobs/uploads/<id>``), and a
repository name may contain any of those words as components, so the segments are read from
the right: the rest is the name, exactly as the greedy ``{name:path}`` pattern would take it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

Handler = Callable[[Request], Awaitable[Response]]
PREFIX = "/v2/"


@dataclass(frozen=True, slots=True)
class Tail:
    """One path shape: fixed trailing segments, one of which may be a parameter (``None`` in
    ``segments``, named by ``parameter``): the last (``manifests/{reference}``) or one before
    fixed ones (``_tagtrail/tags/{tag}/restore``)."""

    segments: tuple[str | None, ...]
    parameter: str | None
    handlers: Mapping[str, Handler]
    allow: str

    @classmethod
    def of(cls, pattern: str, handlers: Mapping[str, Handler]) -> Tail:
        """``"blobs/uploads/{upload_id}"``: literal segments and at most one parameter."""
        parts = pattern.split("/")
        parameter = next((part.strip("{}") for part in parts if part.startswith("{")), None)
        segments = tuple(None if part.startswith("{") else part for part in parts)
        methods = dict(handlers)
        if "GET" in methods:
            methods.setdefault("HEAD", methods["GET"])  # as Starlette does
        return cls(segments, parameter, methods, ", ".join(sorted(methods)))

    def found(self, method: str, params: dict[str, str]) -> Found:
        return Found(self.handlers.get(method), params, self.allow)


@dataclass(frozen=True, slots=True)
class Found:
    """A registry path's route: its handler for the method (None: the path takes other
    methods only, a 405 naming ``allow``) and the parameters read from the path."""

    handler: Handler | None
    params: dict[str, str]
    allow: str


class RegistryRoutes:
    """Every ``/v2/<name>/...`` route, found by trailing segments in one dictionary lookup."""

    def __init__(self, paths: list[Tail]) -> None:
        # Keyed by trailing segments (None for the parameter); longer shapes are tried first.
        # No path of the registry's fits two shapes, so the order of ``paths`` does not matter.
        self._paths: dict[tuple[str | None, ...], Tail] = {}
        for path in paths:
            if path.segments in self._paths:
                raise ValueError(f"two routes end in {path.segments}")
            self._paths[path.segments] = path
        self._lengths = sorted({len(key) for key in self._paths}, reverse=True)
        # Per length, where its shapes have their parameter: one lookup per position (the
        # last segment first, the common case).
        self._parameters: dict[int, list[int]] = {}
        for key in self._paths:
            if None in key:
                self._parameters.setdefault(len(key), []).append(key.index(None))
        for length, positions in self._parameters.items():
            self._parameters[length] = sorted(set(positions), reverse=True)

    def find(self, scope: Scope) -> Found | None:
        """The route of an HTTP request, or None when its path is not a registry path."""
        route_path = get_route_path(scope)
        if not route_path.startswith(PREFIX):
            return None
        rest = route_path[len(PREFIX) :]
        for length in self._lengths:
            parts = rest.rsplit("/", length)
            if len(parts) <= length:
                continue  # no name left in front
            tail = parts[1:]
            for at in self._parameters.get(length, ()):
                path = self._paths.get((*tail[:at], None, *tail[at + 1 :]))
                if path is not None and tail[at]:
                    params = {"name": parts[0], path.parameter or "": tail[at]}
                    return path.found(scope["method"], params)
            path = self._paths.get(tuple(tail))
            if path is not None:
                return path.found(scope["method"], {"name": parts[0]})
        return None
