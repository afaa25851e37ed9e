"""The one place that turns exceptions into HTTP responses with the OCI error body."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tagtrail import error_codes
from tagtrail.error_codes import ErrorCode
from tagtrail.errors import RangeNotSatisfiable, RegistryError, Unauthorized

log = logging.getLogger("tagtrail.api")


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
    error: ErrorCode,
    message: str | None = None,
    detail: Any = None,
    headers: Mapping[str, str] | None = None,
    *,
    status: int | None = None,
) -> Response:
    """The OCI error body of ``error`` (an entry of ``error_codes``), with its status unless
    ``status`` says otherwise (a refusal of the HTTP layer's, with its own)."""
    body = {"errors": [{"code": error.code, "message": message or error.message, "detail": detail}]}
    return JSONResponse(body, status_code=status or error.status, headers=headers)


async def registry_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RegistryError)
    headers: dict[str, str] = {}
    if isinstance(exc, RangeNotSatisfiable) and exc.size is not None:
        headers["Content-Range"] = f"bytes */{exc.size}"
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = challenge(request, exc)
    return oci_error(exc.error_code, exc.message, exc.detail, headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return oci_error(error_codes.UNSUPPORTED, "method not allowed", headers=exc.headers)
    if exc.status_code == 404:
        path = request.url.path[:300]
        return oci_error(error_codes.NOT_FOUND, "no such endpoint", {"path": path})
    return oci_error(error_codes.UNKNOWN, exc.detail, status=exc.status_code)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return oci_error(error_codes.UNKNOWN, "internal server error")


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
