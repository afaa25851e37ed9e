"""What the app's lifespan put on ``app.state``, typed: one accessor each for every handler."""

from __future__ import annotations

from starlette.requests import Request

from tagtrail.registry.service import Registry
from tagtrail.web.guard import Guard


def registry(request: Request) -> Registry:
    found: Registry = request.app.state.registry
    return found


def guard(request: Request) -> Guard:
    found: Guard = request.app.state.guard
    return found
