"""The access log: one line per request (logger ``tagtrail.access``), written by the request
middleware (api/metrics.py) once the response is sent.

What a line holds is chosen, never copied wholesale from the request: the path without its
query string (a query may carry a secret: OAuth2 clients put credentials there), the caller as
its account names it (``user:alice``, ``token:<id>``), and for a refused login the user name
tried. Headers, cookies and bodies are never logged, so no password, token or session is.

A refused login (401 with a user name tried) and a denied request (403) are warnings; a 401
that asks an anonymous client for a token is the token protocol at work, not a warning.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from typing import Any

from starlette.requests import Request
from starlette.types import Scope

from tagtrail import logs
from tagtrail.errors import Unauthorized
from tagtrail.web import login_name
from tagtrail.web.guard import Caller, basic_credentials

log = logging.getLogger("tagtrail.access")
_LONGEST_PATH = 1000


_process = [os.getpid()]
# A request id: this process's random half, then its count of requests (a fresh random
# half in every forked worker). os.urandom per request cost a system call.
_id_prefix = [os.urandom(4).hex()]
_id_count = itertools.count()


def _forked() -> None:
    _process[0] = os.getpid()
    _id_prefix[0] = os.urandom(4).hex()


os.register_at_fork(after_in_child=_forked)


def _pid() -> int:
    """This worker's process id (kept: a syscall a request adds up)."""
    return _process[0]


def request_id() -> str:
    """16 hex digits, unique in this process, random across processes: names a request in
    the log and in ``X-Request-Id``."""
    return f"{_id_prefix[0]}{next(_id_count) & 0xFFFFFFFF:08x}"


def _subject(scope: Scope) -> str | None:
    """The account the request's credentials named (the guard keeps its ``Caller``)."""
    state = scope.get("state")
    caller = state.get("caller") if isinstance(state, dict) else None
    if not isinstance(caller, Caller):
        return None
    if caller.principal is not None:
        return caller.principal.subject
    if caller.token is not None:
        return caller.token.subject
    return None


def _basic_user(scope: Scope) -> str | None:
    """The user name of a Basic ``Authorization`` header, read as the guard reads it (None
    when there is none or it is malformed)."""
    try:
        credentials = basic_credentials(Request(scope))
    except Unauthorized:
        return None
    return None if credentials is None else credentials[0][:200]


def write(
    scope: Scope,
    *,
    rid: str,
    route: str,
    status: int,
    started: float,
    bytes_in: int,
    bytes_out: int,
) -> None:
    """Log the line of a finished request (``started``: its ``time.perf_counter()``)."""
    refused = status in (401, 403)
    if not refused and not log.isEnabledFor(logging.INFO):
        return  # before anything is looked up: this runs on every request
    tried = login_name.noted(scope) or (_basic_user(scope) if refused else None)
    user = _subject(scope)
    level = logging.INFO
    method = scope["method"]
    path = scope["path"][:_LONGEST_PATH]
    message = f"{method} {path} {status}"
    if status == 403:
        level = logging.WARNING
        message += f" denied for {user or tried or 'an unknown caller'}"
    elif status == 401 and tried is not None:
        level = logging.WARNING
        message += f" refused login for {tried}"
    if not log.isEnabledFor(level):
        return  # checked before the line is built: a cached lookup
    client = scope.get("client")
    fields: dict[str, Any] = {
        "request_id": rid,
        "method": method,
        "path": path,
        "route": route,
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        "bytes_in": bytes_in,
        "bytes_out": bytes_out,
        "user": user or (tried if not refused else None),
        "client": client[0] if client else None,
        "worker": _pid(),
    }
    if refused and tried is not None:
        fields["login"] = tried
    logs.write_fields(log, level, message, fields)
