"""The one place that turns exceptions into HTTP responses with the OCI error body."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tagtrail.errors import (
    Conflict,
    Denied,
    InvalidInput,
    NotFound,
    RangeNotSatisfiable,
    RegistryError,
    TooLarge,
    TooManyRequests,
    Unauthorized,
    Unsupported,
)

log = logging.getLogger("tagtrail.api")


def _status(exc: RegistryError) -> int:
    if isinstance(exc, InvalidInput):
        return 400
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, RangeNotSatisfiable):
        return 416
    if isinstance(exc, TooLarge):
        return 413
    if isinstance(exc, TooManyRequests):
        return 429
    if isinstance(exc, Unsupported):
        return 405
    if isinstance(exc, Unauthorized):
        return 401
    if isinstance(exc, Denied):
        return 403
    if isinstance(exc, Conflict):
        return 409
    return 500


def challenge(request: Request, exc: Unauthorized) -> str:
    """The WWW-Authenticate header that sends a client to the token endpoint."""
    if exc.basic:
        return 'Basic realm="tagtrail"'
    settings = request.app.state.settings
    base = settings.external_url or f"{request.url.scheme}://{request.url.netloc}"
    parts = [f'realm="{base}/token"', f'service="{settings.service_name}"']
    if exc.scopes:
        parts.append(f'scope="{" ".join(exc.scopes)}"')
    if exc.insufficient:
        parts.append('error="insufficient_scope"')
    return "Bearer " + ",".join(parts)


def oci_error(
    status: int,
    code: str,
    message: str,
    detail: Any = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = {"errors": [{"code": code, "message": message, "detail": detail}]}
    return JSONResponse(body, status_code=status, headers=headers)


async def registry_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RegistryError)
    headers: dict[str, str] = {}
    if isinstance(exc, RangeNotSatisfiable) and exc.size is not None:
        headers["Content-Range"] = f"bytes */{exc.size}"
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = challenge(request, exc)
    return oci_error(_status(exc), exc.code, exc.message, exc.detail, headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return oci_error(405, "UNSUPPORTED", "method not allowed", headers=exc.headers)
    if exc.status_code == 404:
        return oci_error(404, "NOT_FOUND", "no such endpoint", {"path": request.url.path[:300]})
    return oci_error(exc.status_code, "UNKNOWN", exc.detail)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return oci_error(500, "UNKNOWN", "internal server error")


HANDLERS = {
    RegistryError: registry_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}


async def error_response(request: Request, exc: Exception) -> Response:
    """The response for ``exc``, by the handler of its nearest class in HANDLERS: what
    Starlette's exception middleware does, for the requests the app dispatches itself."""
    for kind in type(exc).__mro__:
        handler = HANDLERS.get(kind)
        if handler is not None:
            return await handler(request, exc)
    raise exc  # a BaseException that is not an Exception: not an error to answer
