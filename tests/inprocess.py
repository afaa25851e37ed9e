"""The registry app in this process, for API tests that do not test the HTTP server itself.

httpx's ASGITransport is asynchronous and the API tests and their helpers are synchronous
(``httpx.Client``), so the app runs on an event loop in a thread (an anyio blocking portal)
and ``PortalTransport`` hands each request to an ASGITransport there. The app starts as
``tagtrail serve`` starts it: ``bootstrap`` migrates and claims the storage, then the app's
own lifespan (Starlette's ``lifespan_context``) opens the registry in that loop, where every
request then runs. What only the real server does (granian's parsing, pathsend, streaming,
limits, TLS) is tested against tests/server.py's process.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

from tagtrail.api.app import create_app
from tagtrail.cli.serve import bootstrap
from tagtrail.config import Settings

# What the app sees as its address (Location and Link headers name it).
BASE_URL = "http://registry.test"


class PortalTransport(httpx.BaseTransport):
    """A synchronous transport that runs ``httpx.ASGITransport`` on the portal's loop."""

    def __init__(self, portal: BlockingPortal, app: Any) -> None:
        self._portal = portal
        self._asgi = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()  # the body as bytes: an async stream for the ASGI side
        status, headers, body = self._portal.call(self._send, request)
        return httpx.Response(
            status, headers=headers, stream=httpx.ByteStream(body), request=request
        )

    async def _send(self, request: httpx.Request) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        response = await self._asgi.handle_async_request(request)
        body = b"".join([chunk async for chunk in response.aiter_raw()])
        return response.status_code, response.headers.raw, body


@dataclass(frozen=True)
class InProcessRegistry:
    settings: Settings
    portal: BlockingPortal
    transport: PortalTransport

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    def client(self, **options: Any) -> httpx.Client:
        """A client of this registry (as httpx.Client takes ``options``; timeout 30 s)."""
        return httpx.Client(
            transport=self.transport, base_url=BASE_URL, **{"timeout": 30, **options}
        )


def settings_for(data_dir: Path, **overrides: Any) -> Settings:
    """Settings from ``overrides`` alone: the TAGTRAIL_* variables of the test run (such as
    TAGTRAIL_TEST_POSTGRES) are not the registry's, as tests/server.py keeps them from its
    processes."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("TAGTRAIL_")}
    for key in saved:
        del os.environ[key]
    try:
        return Settings(data_dir=data_dir, **{"auth": False, **overrides})
    finally:
        os.environ.update(saved)


@contextmanager
def in_process_registry(data_dir: Path, **overrides: Any) -> Iterator[InProcessRegistry]:
    """The registry of ``data_dir`` (settings ``overrides``; auth off unless given), open
    until the block ends."""
    settings = settings_for(data_dir.resolve(), **overrides)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(bootstrap(settings))
    app = create_app(settings)
    with ExitStack() as stack:
        portal = stack.enter_context(start_blocking_portal("asyncio"))
        stack.enter_context(
            portal.wrap_async_context_manager(app.app.router.lifespan_context(app.app))
        )
        yield InProcessRegistry(settings, portal, PortalTransport(portal, app))
