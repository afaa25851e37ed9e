"""``tagtrail admin mirror watch|unwatch|sync`` and the watches in ``mirror list``: arguments
checked in one line, and ``sync`` running a round in the CLI's process against a real
Distribution (progress on a terminal, a summary otherwise)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from tagtrail.cli.serve import bootstrap
from tagtrail.config import Settings
from tagtrail.meta.sql import SqlMetadataStore
from tagtrail.types import OCI_INDEX, Digest, RepoName
from tests.auth.cli import admin, admin_cli
from tests.cli.helpers import tagtrail_on_a_terminal
from tests.mirror.upstreams import OCI_MANIFEST, Distribution, push_image
from tests.mirror.watching import fresh_repository
from tests.server import free_port


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A server's data directory as its first start leaves it (schema, storage marker)."""
    data = tmp_path / "data"
    asyncio.run(bootstrap(Settings.model_validate({"data_dir": data, "auth": False})))
    return data


def test_watch_arguments_are_checked_and_listed(data: Path, distribution: Distribution) -> None:
    admin(data, "mirror", "add", "dist", distribution.url, "--no-check")
    for args, error in [
        (["acme/app"], "tagtrail: acme is no mirror (`tagtrail admin mirror list` shows them)"),
        (["dist"], "tagtrail: dist: a repository under the mirror, e.g. dist/library/python"),
        (["Dist/App"], "tagtrail: 'Dist/App' is no repository name (e.g. hub/library/python)"),
        (["dist/app", "--interval", "0s"], "tagtrail: --interval: at least 1s"),
        (["dist/app", "--platforms", "linux"], "tagtrail: --platforms: 'linux' is not os/arch"),
    ]:
        done = admin_cli(data, "mirror", "watch", *args, check=False)
        assert (done.returncode, done.stdout) == (1, ""), args
        assert done.stderr.startswith(error) and len(done.stderr.splitlines()) == 1, done.stderr
    bad_regex = admin_cli(data, "mirror", "watch", "dist/app", "--tags", "v(", check=False)
    assert bad_regex.returncode == 1
    assert bad_regex.stderr.startswith("tagtrail: --tags 'v(' is no regular expression: ")
    assert "no round yet" not in admin(data, "mirror", "list")  # nothing was written

    added = admin(
        data,
        "mirror",
        "watch",
        "dist/app",
        "--tags",
        r"v\d+",
        "--exclude",
        "v0",
        "--platforms",
        "linux/amd64,linux/arm64/v8",
    )
    assert added == (
        r"watching dist/app: tags matching v\d+ but v0, linux/amd64,linux/arm64/v8, "
        "every 300 s\n"
    )
    changed = admin(data, "mirror", "watch", "dist/app", "--interval", "1h")
    assert changed == "changed the watch of dist/app: every tag, all platforms, every 3600 s\n"
    assert admin(data, "mirror", "list").splitlines() == [
        f"dist  {distribution.url}  anonymous  every 60 s  unchecked",
        "  watch dist/app  every 3600 s  all tags  no round yet",
    ]
    assert admin(data, "mirror", "unwatch", "dist/app").startswith("dist/app is not watched")
    again = admin_cli(data, "mirror", "unwatch", "dist/app", check=False)
    assert (again.returncode, again.stderr) == (1, "tagtrail: dist/app is not watched\n")


def test_sync_runs_one_round_with_the_watch_filters(
    data: Path, distribution: Distribution, distribution_http: httpx.Client
) -> None:
    repo = fresh_repository()
    for tag in ("v1", "v2", "dev"):
        push_image(distribution_http, repo, tag)
    admin(data, "mirror", "add", "dist", distribution.url, "--no-check")
    admin(data, "mirror", "watch", f"dist/{repo}", "--tags", "v.*")
    done = admin_cli(data, "mirror", "sync", f"dist/{repo}")
    assert done.stderr == ""  # no terminal: no progress
    assert done.stdout == f"sync dist/{repo}: 2 tags, 2 checked, 2 moved, 0 failed\n"
    admin(data, "mirror", "unwatch", f"dist/{repo}")
    done = admin_cli(data, "mirror", "sync", f"dist/{repo}")  # unwatched: every tag
    assert done.stdout == f"sync dist/{repo}: 3 tags, 3 checked, 1 moved, 0 failed\n"


def test_sync_of_an_upstream_that_does_not_answer_fails_in_one_line(data: Path) -> None:
    gone = f"http://127.0.0.1:{free_port()}"
    admin(data, "mirror", "add", "gone", gone, "--no-check")
    done = admin_cli(data, "mirror", "sync", "gone/app", check=False)
    assert done.returncode == 1
    assert done.stdout == "sync gone/app: 0 tags, 0 checked, 0 moved, 0 failed\n"
    assert done.stderr.startswith("tagtrail: sync gone/app: stopped: 127.0.0.1:")
    assert len(done.stderr.splitlines()) == 1


def test_sync_on_a_terminal_shows_progress_and_keeps_the_summary_clean(
    data: Path, distribution: Distribution, distribution_http: httpx.Client
) -> None:
    repo = fresh_repository()
    push_image(distribution_http, repo, "latest")
    admin(data, "mirror", "add", "dist", distribution.url, "--no-check")
    code, drawn, stdout = tagtrail_on_a_terminal(
        "admin", "--data-dir", str(data), "mirror", "sync", f"dist/{repo}"
    )
    assert code == 0, drawn
    assert f"sync dist/{repo}: " in drawn
    assert stdout == f"sync dist/{repo}: 1 tags, 1 checked, 1 moved, 0 failed\n"


def test_a_request_rate_that_is_not_positive_is_refused_in_one_line(data: Path) -> None:
    done = admin_cli(
        data,
        "mirror",
        "sync",
        "dist/app",
        check=False,
        env={"TAGTRAIL_MIRROR_REQUESTS_PER_SECOND": "0"},
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "tagtrail: invalid settings: TAGTRAIL_MIRROR_REQUESTS_PER_SECOND=0: "
        "input should be greater than 0\n"
    )


def test_sync_keeps_only_the_platforms_asked_for(
    data: Path, distribution: Distribution, distribution_http: httpx.Client
) -> None:
    repo = fresh_repository()
    children = {
        platform: push_image(distribution_http, repo, platform.replace("/", "-"))
        for platform in ("linux/amd64", "linux/arm64")
    }
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": image.digest,
                    "size": len(image.manifest),
                    "platform": dict(zip(("os", "architecture"), platform.split("/"), strict=True)),
                }
                for platform, image in children.items()
            ],
        }
    ).encode()
    put = distribution_http.put(
        f"/v2/{repo}/manifests/multi", content=index, headers={"Content-Type": OCI_INDEX}
    )
    assert put.status_code == 201, put.text
    admin(data, "mirror", "add", "dist", distribution.url, "--no-check")
    admin(data, "mirror", "watch", f"dist/{repo}", "--tags", "multi", "--platforms", "linux/amd64")
    done = admin_cli(data, "mirror", "sync", f"dist/{repo}")
    assert done.stdout == f"sync dist/{repo}: 1 tags, 1 checked, 1 moved, 0 failed\n"

    async def stored() -> dict[str, bool]:
        meta = await SqlMetadataStore.open(f"sqlite:///{data / 'tagtrail.db'}", migrate=False)
        try:
            local = RepoName(f"dist/{repo}")
            found = {}
            for platform, image in children.items():
                manifest = await meta.get_manifest(local, Digest.parse(image.digest))
                found[platform] = manifest is not None
            return found
        finally:
            await meta.close()

    assert asyncio.run(stored()) == {"linux/amd64": True, "linux/arm64": False}
