"""Which repositories are mirrored, and one upstream client per mirror.

A local name ``<prefix>/<rest>`` under a mirror's prefix is the upstream's ``<rest>`` (with
Docker Hub's ``library/`` for a one-part ``rest``: ``tagtrail.upstream.names``). The registered
mirrors are read again every few seconds, so a mirror added, changed or removed with the CLI
takes effect within that time on every worker; a client is rebuilt when its mirror's URL or
credentials changed, and closed with the registry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from tagtrail.accounts import organisation_of
from tagtrail.meta.mirrors import MirrorRecord
from tagtrail.types import RepoName
from tagtrail.upstream.client import Upstream

CACHE_SECONDS = 2.0


class MirrorLister(Protocol):
    async def list_mirrors(self) -> list[MirrorRecord]: ...


@dataclass(frozen=True, slots=True)
class Mirrored:
    """A repository under a mirror: its local name and the upstream's name for it."""

    mirror: MirrorRecord
    local: RepoName
    upstream: str  # as the mirror's prefix leaves it; Upstream maps Docker Hub's names


class MirrorUpstreams:
    def __init__(
        self,
        mirrors: MirrorLister,
        *,
        ca_bundle: Path | None = None,
        ttl: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        transport: Callable[[], httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        """``transport``: makes each client's transport (the watches' rate limit)."""
        self._mirrors = mirrors
        self._transport = transport
        self._ca_bundle = ca_bundle
        self._ttl = ttl
        self._clock = clock
        self._by_prefix: dict[str, MirrorRecord] = {}
        self._expires = float("-inf")
        self._clients: dict[str, tuple[MirrorRecord, Upstream]] = {}
        # Replaced clients may still serve a request in flight: closed with the registry.
        self._retired: list[Upstream] = []

    async def records(self) -> dict[str, MirrorRecord]:
        """The registered mirrors by prefix, as read at most ``ttl`` seconds ago."""
        if self._clock() >= self._expires:
            self._by_prefix = {m.prefix: m for m in await self._mirrors.list_mirrors()}
            self._expires = self._clock() + self._ttl
        return self._by_prefix

    async def lookup(self, name: RepoName) -> Mirrored | None:
        """``name`` as a mirrored repository; None when it is under no mirror's prefix."""
        return mirrored_in(await self.records(), name)

    def client(self, mirror: MirrorRecord) -> Upstream:
        """The upstream client of ``mirror`` (one per mirror, rebuilt when it changed)."""
        held = self._clients.get(mirror.prefix)
        if held is not None and _same_upstream(held[0], mirror):
            return held[1]
        client = Upstream(
            mirror.url,
            mirror.username,
            mirror.password,
            ca_bundle=self._ca_bundle,
            transport=None if self._transport is None else self._transport(),
        )
        self._clients[mirror.prefix] = (mirror, client)
        if held is not None:
            self._retired.append(held[1])
        return client

    async def aclose(self) -> None:
        for _, client in self._clients.values():
            await client.aclose()
        for client in self._retired:
            await client.aclose()
        self._clients.clear()
        self._retired.clear()


def mirrored_in(records: dict[str, MirrorRecord], name: RepoName) -> Mirrored | None:
    """``name`` as a repository of one of ``records`` (by prefix); None under none."""
    prefix = organisation_of(name)
    mirror = records.get(prefix)
    if mirror is None or name == prefix:
        return None
    return Mirrored(mirror, name, name[len(prefix) + 1 :])


def _same_upstream(a: MirrorRecord, b: MirrorRecord) -> bool:
    secret_a = None if a.password is None else a.password.get_secret_value()
    secret_b = None if b.password is None else b.password.get_secret_value()
    return (a.url, a.username, secret_a) == (b.url, b.username, secret_b)
