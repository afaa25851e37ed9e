"""A local tagtrail with mirrors, in this process: its API (``tests.inprocess``) and its
registry's ``MirrorSync`` run on the app's own loop, as the pull-through and the watches run
it, so a test checks a mirrored tag and reads what was recorded through the API."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from anyio.from_thread import start_blocking_portal

from tagtrail.api.app import create_app
from tagtrail.cli.serve import bootstrap
from tagtrail.registry.mirror_sync import TagCheckResult
from tagtrail.registry.service import Registry
from tagtrail.types import RepoName, Tag
from tests.auth.cli import admin
from tests.auth.helpers import ADMIN_PASSWORD
from tests.inprocess import InProcessRegistry, PortalTransport, settings_for


@dataclass(frozen=True)
class MirrorHost:
    api: InProcessRegistry
    registry: Registry

    def client(self) -> httpx.Client:
        return self.api.client()

    def check(self, name: str, tag: str, *, fetch_blobs: bool = False) -> TagCheckResult:
        """Check ``name:tag`` (a local name under a mirror's prefix) now, as a watch does
        (which fetches the blobs too, with ``fetch_blobs``)."""

        async def run() -> TagCheckResult:
            mirroring = self.registry.mirroring
            assert mirroring is not None
            mirrored = await mirroring.upstreams.lookup(RepoName(name))
            assert mirrored is not None, name
            upstream = mirroring.upstreams.client(mirrored.mirror)
            return await mirroring.sync.check_tag(
                mirrored, upstream, Tag(tag), due_only=False, fetch_blobs=fetch_blobs
            )

        return self.api.portal.call(run)


def add_mirror(data_dir: Path, prefix: str, url: str, *, as_admin: bool = False) -> None:
    """Register ``url`` under ``prefix`` (with the upstream admin's credentials)."""
    if as_admin:
        credentials = ("--username", "admin", "--password-stdin")
        admin(data_dir, "mirror", "add", prefix, url, *credentials, stdin=ADMIN_PASSWORD + "\n")
    else:
        admin(data_dir, "mirror", "add", prefix, url)


@contextmanager
def mirror_host(data_dir: Path) -> Iterator[MirrorHost]:
    """The tagtrail of ``data_dir`` (auth off), open until the block ends."""
    settings = settings_for(data_dir.resolve())
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(bootstrap(settings))
    app = create_app(settings)
    with ExitStack() as stack:
        portal = stack.enter_context(start_blocking_portal("asyncio"))
        stack.enter_context(
            portal.wrap_async_context_manager(app.app.router.lifespan_context(app.app))
        )
        registry = app.app.state.registry
        assert isinstance(registry, Registry)
        api = InProcessRegistry(settings, portal, PortalTransport(portal, app))
        yield MirrorHost(api, registry)
