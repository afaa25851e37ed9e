"""Which rule covers a tag (globs, exceptions, repository patterns), and the per-worker cache:
a change on this worker holds at once, one elsewhere once the cache time has passed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tagtrail.errors import InvalidInput, NotFound
from tagtrail.meta.rules import TagRule, parse_target
from tagtrail.meta.sql import SqlMetadataStore
from tagtrail.registry.tag_rules import TagRules, covers
from tagtrail.types import RepoName

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlMetadataStore]:
    opened = await SqlMetadataStore.open(f"sqlite:///{tmp_path / 'meta.db'}")
    yield opened
    await opened.close()


def test_covers() -> None:
    every = TagRule("acme", None, "v*", ("v*-rc*",), id=1)
    assert covers(every, "acme/app", "v1")
    assert covers(every, "acme/a/b", "v1.2.3")
    assert not covers(every, "acme/app", "V1")  # case-sensitive
    assert not covers(every, "acme/app", "v2-rc1")  # exempt
    assert not covers(every, "acme/app", "latest")
    assert not covers(every, "acmes/app", "v1")  # another organisation
    assert not covers(every, "other/acme", "v1")
    semver = TagRule("acme", "app-*", "*.*.*", id=2)
    assert covers(semver, "acme/app-web", "1.2.3")
    assert not covers(semver, "acme/app-web", "1.2")
    assert not covers(semver, "acme/tools", "1.2.3")
    exact = TagRule("acme", "app", "*", ("latest",), id=3)
    assert covers(exact, "acme/app", "main") and not covers(exact, "acme/app2", "main")
    assert not covers(exact, "acme/app", "latest")
    assert exact.describe() == "#3 acme/app * except latest"


def test_targets() -> None:
    assert parse_target("acme") == ("acme", None)
    assert parse_target("acme/app-*") == ("acme", "app-*")
    assert parse_target("acme/team/*") == ("acme", "team/*")
    for bad in ("", "Acme", "acme/", "acme/App", "/app", "acme/a b"):
        with pytest.raises(InvalidInput):
            parse_target(bad)


async def test_cache_per_worker(store: SqlMetadataStore) -> None:
    now = [0.0]
    here = TagRules(store, cache_seconds=2, clock=lambda: now[0])
    elsewhere = TagRules(store, cache_seconds=2, clock=lambda: now[0])
    name = RepoName("acme/app")
    assert (await here.covering(name))("v1") is None  # read, and cached
    added = await elsewhere.add(TagRule("acme", None, "v*", created_ms=1))
    assert (await elsewhere.covering(name))("v1") == added.describe()  # at once where made
    assert (await here.covering(name))("v1") is None  # not yet: cached
    now[0] = 2.5
    assert (await here.covering(name))("v1") == added.describe()
    await here.remove(added.id, by="alice")
    assert (await here.covering(name))("v1") is None
    with pytest.raises(NotFound):
        await here.remove(added.id, by="alice")


async def test_the_oldest_covering_rule_is_named(store: SqlMetadataStore) -> None:
    rules = TagRules(store)
    first = await rules.add(TagRule("acme", "app", "v1*"))
    await rules.add(TagRule("acme", None, "v*"))
    rule_for = await rules.covering(RepoName("acme/app"))
    assert rule_for("v10") == first.describe()
    assert rule_for("v2") == "#2 acme v*"
    with pytest.raises(InvalidInput):
        await rules.add(TagRule("acme", None, "v/*"))
