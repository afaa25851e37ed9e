"""The user name a request tried to log in with, for the access log's line about a refused
login (api/access_log.py): the name only, never the password or secret that came with it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import Scope

_KEY = "login_name"
_LONGEST = 200  # a name is short; anything longer is cut, not logged whole


def note(request: Request, name: str) -> None:
    """Remember ``name`` as the one this request logs in with."""
    request.state.login_name = name[:_LONGEST]


def noted(scope: Scope) -> str | None:
    """The name ``note`` remembered for the request of ``scope``, if any."""
    state = scope.get("state")
    name = state.get(_KEY) if isinstance(state, dict) else None
    return name if isinstance(name, str) else None
