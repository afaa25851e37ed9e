"""Which repository a pull means when the client wrote the name as the upstream's.

Clients that use tagtrail as a mirror send the upstream's names, not tagtrail's:

- containerd (``hosts.toml``) adds ``?ns=docker.io``, the registry its image reference named:
  ``/v2/library/python/manifests/3?ns=docker.io`` is ``<prefix>/library/python`` under the
  mirror whose upstream is that registry (``docker.io``, ``index.docker.io`` and
  ``registry-1.docker.io`` are one).
- The Docker daemon (``registry-mirrors``) sends ``/v2/library/python/...`` with nothing that
  names Docker Hub. When exactly one mirror's upstream is Docker Hub and the name's first
  component is neither a mirror's prefix, nor an organisation, nor the start of a repository
  held here, the name is Docker Hub's: ``<prefix>/library/python``. A local name always wins, so
  no upstream can shadow an organisation's repository, even one not pushed yet.

The API maps a pull's name here once, before authorisation, so the scope checked is the mapped
name's. Pushes never come here: a name a client thinks is Docker Hub's must not be written.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import httpx
from cachetools import TTLCache

from tagtrail.accounts import organisation_of
from tagtrail.meta.mirrors import MirrorRecord
from tagtrail.meta.store import RepositoryStore
from tagtrail.registry.mirror_upstreams import Mirrored, MirrorUpstreams, mirrored_in
from tagtrail.types import RepoName, parse_name
from tagtrail.upstream.names import api_url, is_docker_hub

# How long an answer "this name is local" (or not) is kept: as long as the mirrors' cache, so
# an organisation created with the CLI is seen by every worker within a few seconds.
LOCAL_CACHE_SECONDS = 2.0
LOCAL_CACHE_ENTRIES = 4096


class Organisations(Protocol):
    async def get_organisation(self, name: str) -> object | None: ...


@dataclass(frozen=True, slots=True)
class _Index:
    """The registered mirrors, indexed for the two forms (rebuilt when they are re-read)."""

    by_host: dict[str, MirrorRecord]  # the upstream's API host:port, first prefix winning
    docker_hub: MirrorRecord | None  # the one mirror of Docker Hub (None: none, or several)


class MirrorNames:
    def __init__(
        self,
        upstreams: MirrorUpstreams,
        repositories: RepositoryStore,
        organisations: Organisations | None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._upstreams = upstreams
        self._repositories = repositories
        # Without an account store (tests of one concept) the Docker daemon's form is off:
        # a name cannot be told local for sure.
        self._organisations = organisations
        self._indexed: tuple[dict[str, MirrorRecord], _Index] | None = None
        self._local: TTLCache[str, bool] = TTLCache(
            LOCAL_CACHE_ENTRIES, LOCAL_CACHE_SECONDS, timer=clock
        )

    async def resolve(self, name: RepoName, ns: str | None) -> tuple[RepoName, Mirrored | None]:
        """The repository a pull of ``name`` (with containerd's ``ns``) means, and that
        repository as a mirrored one (None when it is under no mirror's prefix). One read of
        the cached mirrors: this is on every pull's path."""
        records = await self._upstreams.records()
        if not records:  # the usual case: no mirror, nothing to map
            return name, None
        mapped = await self._mapped(records, name, ns)
        return mapped, mirrored_in(records, mapped)

    async def pull_name(self, name: RepoName, ns: str | None) -> RepoName:
        """The repository a pull of ``name`` (with containerd's ``ns``) means."""
        return (await self.resolve(name, ns))[0]

    async def _mapped(
        self, records: dict[str, MirrorRecord], name: RepoName, ns: str | None
    ) -> RepoName:
        index = self._index(records)
        if ns:
            mirror = index.by_host.get(_host(ns))
            return name if mirror is None else _under(mirror, name)
        hub = index.docker_hub
        if hub is None or organisation_of(name) in records or await self._is_local(name):
            return name
        return _under(hub, name)

    def _index(self, records: dict[str, MirrorRecord]) -> _Index:
        if self._indexed is None or self._indexed[0] is not records:
            by_host: dict[str, MirrorRecord] = {}
            for prefix in sorted(records):
                by_host.setdefault(_host(records[prefix].url), records[prefix])
            hubs = [m for m in records.values() if is_docker_hub(m.url)]
            self._indexed = (records, _Index(by_host, hubs[0] if len(hubs) == 1 else None))
        return self._indexed[1]

    async def _is_local(self, name: RepoName) -> bool:
        if self._organisations is None:
            return True
        known = self._local.get(name)
        if known is None:
            first = organisation_of(name)
            known = await self._organisations.get_organisation(
                first
            ) is not None or await self._repositories.repository_exists(name)
            self._local[name] = known
        return known


def _host(url: str) -> str:
    """The host:port an upstream's API is served at, Docker Hub's aliases made one."""
    try:
        return httpx.URL(api_url(url)).netloc.decode().lower()
    except httpx.InvalidURL:
        return ""


def _under(mirror: MirrorRecord, name: RepoName) -> RepoName:
    # parse_name: the longer name must still be a valid one (length limits).
    return parse_name(f"{mirror.prefix}/{name}")
