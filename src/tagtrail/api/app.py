"""The ASGI application: routes, lifespan (opening the registry) and the error mapping."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from tagtrail.api import blobs, history, manifests
from tagtrail.api.errors import HANDLERS
from tagtrail.config import Settings, load_settings
from tagtrail.registry.service import Registry


async def base(request: Request) -> Response:
    return JSONResponse({})


class _ApiVersionHeader:
    """Every /v2 answer names the API version, as Distribution's does."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"docker-distribution-api-version", b"registry/2.0"),
                ]
            await send(message)

        await self.app(scope, receive, send_with_header)


NAME = "/v2/{name:path}"
ROUTES = [
    Route("/v2/", base, methods=["GET", "HEAD"]),
    Route("/v2/_catalog", manifests.catalog, methods=["GET"]),
    Route(f"{NAME}/blobs/uploads/", blobs.start_upload, methods=["POST"]),
    Route(
        f"{NAME}/blobs/uploads/{{upload_id}}",
        blobs.upload_status,
        methods=["GET"],
    ),
    Route(f"{NAME}/blobs/uploads/{{upload_id}}", blobs.patch_upload, methods=["PATCH"]),
    Route(f"{NAME}/blobs/uploads/{{upload_id}}", blobs.put_upload, methods=["PUT"]),
    Route(f"{NAME}/blobs/uploads/{{upload_id}}", blobs.cancel_upload, methods=["DELETE"]),
    Route(f"{NAME}/blobs/{{digest}}", blobs.get_blob, methods=["GET", "HEAD"]),
    Route(f"{NAME}/blobs/{{digest}}", blobs.delete_blob, methods=["DELETE"]),
    Route(f"{NAME}/manifests/{{reference}}", manifests.get_manifest, methods=["GET", "HEAD"]),
    Route(f"{NAME}/manifests/{{reference}}", manifests.put_manifest, methods=["PUT"]),
    Route(f"{NAME}/manifests/{{reference}}", manifests.delete_manifest, methods=["DELETE"]),
    Route(f"{NAME}/tags/list", manifests.list_tags, methods=["GET"]),
    Route(f"{NAME}/referrers/{{digest}}", manifests.referrers, methods=["GET"]),
    Route(f"{NAME}/_chainguard/history/{{tag}}", history.chainguard_history, methods=["GET"]),
    Route(f"{NAME}/_oci/tag-history/{{tag}}", history.oci_tag_history, methods=["GET"]),
]


def create_app(settings: Settings, registry: Registry | None = None) -> _ApiVersionHeader:
    """The app; it opens its own registry at startup unless one is given (tests)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        opened = registry or await Registry.open(settings)
        app.state.registry = opened
        try:
            yield
        finally:
            if registry is None:
                await opened.close()

    app = Starlette(routes=ROUTES, exception_handlers=HANDLERS, lifespan=lifespan)
    app.state.settings = settings
    return _ApiVersionHeader(app)


def app_from_environment() -> _ApiVersionHeader:
    """Factory for the server's workers: settings come from TAGTRAIL_* and the config file."""
    settings = load_settings()
    logging.basicConfig(level=settings.log_level.upper())
    return create_app(settings)
