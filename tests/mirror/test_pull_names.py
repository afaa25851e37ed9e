"""Names as clients configured for a mirror send them: containerd's ``?ns=`` and the Docker
daemon's bare Docker Hub names, mapped for pulls only and authorised as the mapped name.

The Docker daemon's form needs a mirror of Docker Hub, which this machine cannot reach: it is
tested at the registry layer, on a real metadata store with a registered mirror whose URL is
Docker Hub's (nothing is sent upstream to map a name). The ``ns`` form runs end to end with
the local Distribution as the upstream, named by its host:port.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tagtrail.accounts import Visibility
from tagtrail.meta.database import Database
from tagtrail.meta.mirrors import MirrorRecord
from tagtrail.meta.sql import SqlMetadataStore
from tagtrail.meta.sql_accounts import SqlAccountStore
from tagtrail.registry.mirror_names import MirrorNames
from tagtrail.registry.mirror_upstreams import MirrorUpstreams
from tagtrail.types import Digest, RepoName
from tests.mirror.mirror_server import PullThrough, pull_through, repository
from tests.mirror.upstreams import Distribution, push_image, sha256

HUB = MirrorRecord("hub", "https://registry-1.docker.io")
QUAY = MirrorRecord("quay", "https://quay.io")


class Registered:
    """The mirrors a test registers (what ``SqlMirrorStore.list_mirrors`` would answer)."""

    def __init__(self, *mirrors: MirrorRecord) -> None:
        self.mirrors = list(mirrors)

    async def list_mirrors(self) -> list[MirrorRecord]:
        return list(self.mirrors)


async def _names(tmp_path: Path, *mirrors: MirrorRecord) -> list[str]:
    tmp_path.mkdir(exist_ok=True)
    database = await Database.open(f"sqlite:///{tmp_path / 'meta.db'}", migrate=True)
    meta, accounts = SqlMetadataStore(database), SqlAccountStore(database)
    try:
        await accounts.add_organisation("acme", Visibility("private"))
        await meta.link_blob(RepoName("team/app"), Digest.parse(f"sha256:{'a' * 64}"), 1)
        names = MirrorNames(MirrorUpstreams(Registered(*mirrors), ttl=0), meta, accounts)
        asked = [
            ("library/python", "docker.io"),
            ("library/python", "index.docker.io"),
            ("library/python", "registry-1.docker.io"),
            ("library/python", "quay.io"),
            ("library/python", "ghcr.io"),
            ("library/python", None),
            ("bitnami/redis", None),
            ("hub/python", None),
            ("acme/app", None),  # an organisation's, even before its first push
            ("team/app", None),  # a repository held here
            ("team/other", None),
        ]
        return [await names.pull_name(RepoName(name), ns) for name, ns in asked]
    finally:
        await database.close()


def test_names_of_a_docker_hub_mirror(tmp_path: Path) -> None:
    mapped = asyncio.run(_names(tmp_path, HUB, QUAY))
    assert mapped == [
        "hub/library/python",
        "hub/library/python",
        "hub/library/python",
        "quay/library/python",
        "library/python",  # no mirror of ghcr.io: the name as sent
        "hub/library/python",  # the Docker daemon's registry-mirrors form
        "hub/bitnami/redis",
        "hub/python",
        "acme/app",
        "team/app",
        "hub/team/other",  # the rule is the name, not its first component
    ]


def test_the_docker_daemon_form_needs_exactly_one_docker_hub_mirror(tmp_path: Path) -> None:
    other_hub = MirrorRecord("dockerhub", "docker.io")
    mapped = asyncio.run(_names(tmp_path, HUB, other_hub))
    assert mapped[5:7] == ["library/python", "bitnami/redis"]  # which one? neither
    assert mapped[0] == "dockerhub/library/python"  # ns: the first prefix by name
    assert asyncio.run(_names(tmp_path / "none", QUAY))[5] == "library/python"


@pytest.fixture(scope="module")
def mirror(
    tmp_path_factory: pytest.TempPathFactory, distribution: Distribution
) -> Iterator[PullThrough]:
    data = tmp_path_factory.mktemp("pull-names") / "data"
    with pull_through(data, distribution) as running:
        yield running


def test_containerd_ns_pulls_through_the_mirror_of_that_registry(mirror: PullThrough) -> None:
    repo = repository()
    ns = {"ns": mirror.proxy.url.removeprefix("http://")}
    with mirror.upstream() as upstream, mirror.client() as http:
        image = push_image(upstream, repo, "v1")
        pulled = http.get(f"/v2/{repo}/manifests/v1", params=ns)
        assert (pulled.status_code, pulled.content) == (200, image.manifest)
        layer = image.layers[0]
        assert http.get(f"/v2/{repo}/blobs/{sha256(layer)}", params=ns).content == layer
        # Held under the mirror's prefix, where a pull without ns finds it.
        assert http.get(f"/v2/dist/{repo}/manifests/{image.digest}").status_code == 200
        # Another registry's ns, or none: the name as sent, which holds nothing here.
        other = http.get(f"/v2/{repo}/manifests/v1", params={"ns": "ghcr.io"})
        assert other.status_code == 404
        # Pushes are never mapped: an upload starts in the name as sent.
        started = http.post(f"/v2/{repo}/blobs/uploads/", params=ns)
        assert started.status_code == 202, started.text
        assert started.headers["location"].startswith(f"/v2/{repo}/blobs/uploads/")


def test_ns_is_authorised_as_the_mapped_name(tmp_path: Path, distribution: Distribution) -> None:
    with pull_through(tmp_path / "data", distribution, "--auth") as mirror:
        ns = {"ns": mirror.proxy.url.removeprefix("http://")}
        with mirror.client() as http:
            refused = http.get("/v2/library/app/manifests/v1", params=ns)
        assert refused.status_code == 401
        challenge = refused.headers["www-authenticate"]
        assert 'scope="repository:dist/library/app:pull"' in challenge, challenge
