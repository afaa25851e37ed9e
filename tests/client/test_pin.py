"""``tagtrail pin`` against a live tagtrail: a fixture tree of Dockerfiles, a compose file and
Kubernetes manifests checked byte for byte against expected outputs; ``--update``,
``--dry-run``, ``--check`` and ``--exclude``; ``--at`` to the millisecond."""

from __future__ import annotations

import difflib
import subprocess
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest

from tagtrail.times import format_timestamp
from tests.api.helpers import repo
from tests.client.helpers import (
    assert_one_line_error,
    db_history,
    ensure_config,
    put_tag,
    run_cli,
    small_manifest,
)
from tests.server import RunningServer
from tests.ssl_context import SHARED

FIXTURE = Path(__file__).parent / "pin_fixture"

# Placeholder -> (repository:tag, label of the manifest it points to). Two tags move: the
# placeholders ending in _OLD name their earlier digest.
IMAGES = {
    "__GOLANG__": ("pin/golang:1.22", "golang"),
    "__PYTHON_3_12_OLD__": ("pin/python:3.12", "python-3.12-old"),
    "__PYTHON_3_12__": ("pin/python:3.12", "python-3.12"),
    "__PYTHON_LATEST__": ("pin/python:latest", "python-latest"),
    "__NGINX__": ("pin/nginx:1.27", "nginx"),
    "__POSTGRES__": ("pin/postgres:16", "postgres"),
    "__REDIS__": ("pin/redis:7", "redis"),
    "__BUSYBOX__": ("pin/busybox:stable", "busybox"),
    "__APP_OLD__": ("pin/app:v1", "app-old"),
    "__APP__": ("pin/app:v1", "app"),
    "__SIDECAR__": ("pin/sidecar:v2", "sidecar"),
    "__INIT__": ("pin/init:v1", "init"),
}


@pytest.fixture(scope="module")
def placeholders(registry: RunningServer) -> dict[str, str]:
    """Push every image (in IMAGES order, so _OLD digests are overtaken); the substitutions."""
    values = {"__REGISTRY__": registry.host}
    with httpx.Client(base_url=registry.url, timeout=30, verify=SHARED) as client:
        for placeholder, (ref, label) in IMAGES.items():
            name, _, tag = ref.partition(":")
            ensure_config(client, name)
            values[placeholder] = put_tag(client, name, tag, small_manifest(label))
    return values


def materialize(source: Path, target: Path, values: Mapping[str, str]) -> None:
    # Longest first, so __APP__ does not eat into __APP_OLD__.
    keys = sorted(values, key=len, reverse=True)
    for path in sorted(source.rglob("*")):
        if path.is_file():
            text = path.read_text()
            for key in keys:
                text = text.replace(key, values[key])
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(text.encode())


def tree_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def tree(tmp_path: Path, placeholders: dict[str, str]) -> Path:
    root = tmp_path / "project"
    materialize(FIXTURE / "input", root, placeholders)
    return root


def expected_tree(name: str, tmp_path: Path, values: Mapping[str, str]) -> dict[str, bytes]:
    target = tmp_path / name
    materialize(FIXTURE / name, target, values)
    return tree_of(target)


def test_pin_rewrites_the_tree_byte_for_byte(
    tree: Path, tmp_path: Path, placeholders: dict[str, str]
) -> None:
    result = run_cli("pin", str(tree), "--exclude", "vendor")
    assert result.code == 0, result.err
    assert tree_of(tree) == expected_tree("expected", tmp_path, placeholders)
    changes = result.out.splitlines()
    assert len(changes) == 9, result.out
    assert all(" pinned " in line for line in changes)
    assert f"{tree / 'app' / 'Dockerfile'}:6: pinned " in result.out
    # References built from ARGs (and compose variables) are reported, not touched.
    assert f"{tree / 'app' / 'Dockerfile'}:11: {placeholders['__REGISTRY__']}" in result.err
    assert "${GO_VERSION}: built from an ARG; left alone" in result.err
    assert f"{tree / 'app' / 'Dockerfile'}:12: ${{BASE}}: built from an ARG" in result.err
    assert "${APP_IMAGE:-shop}: uses a variable or template; left alone" in result.err
    # YAML that is neither compose nor Kubernetes is named as skipped, not ignored silently.
    notes = tree / "docs" / "notes.yaml"
    skipped = f"{notes}: skipped: not a Dockerfile, compose file or Kubernetes manifest"
    assert skipped in result.err.splitlines()
    # Pinning again changes nothing, and says why for each reference.
    again = run_cli("pin", str(tree), "--exclude", "vendor")
    assert again.code == 0, again.err
    assert again.out == ""
    assert tree_of(tree) == expected_tree("expected", tmp_path, placeholders)
    already = [line for line in again.err.splitlines() if "already pinned" in line]
    assert len(already) == 12, again.err  # the nine just pinned and three pinned before
    assert f"{tree / 'app' / 'Containerfile.debug'}:2: " in already[0]
    assert f"{tree / 'app' / 'Dockerfile'}:6: " in already[1]
    assert all(line.endswith(": already pinned; --update moves it") for line in already)
    assert skipped in again.err.splitlines()
    assert again.err.splitlines()[-1] == "nothing to pin"


def test_update_re_resolves_existing_pins(
    tree: Path, tmp_path: Path, placeholders: dict[str, str]
) -> None:
    result = run_cli("pin", "--update", str(tree), "--exclude", "vendor")
    assert result.code == 0, result.err
    assert tree_of(tree) == expected_tree("expected-update", tmp_path, placeholders)
    assert sum(" updated " in line for line in result.out.splitlines()) == 2


def test_dry_run_prints_the_diff_and_changes_nothing(
    tree: Path, tmp_path: Path, placeholders: dict[str, str]
) -> None:
    before = tree_of(tree)
    result = run_cli("pin", "--dry-run", str(tree), "--exclude", "vendor")
    assert result.code == 0, result.err
    assert tree_of(tree) == before
    expected = expected_tree("expected", tmp_path, placeholders)
    diff = ""
    for name in sorted(before):
        if before[name] != expected[name]:
            diff += "".join(
                difflib.unified_diff(
                    before[name].decode().splitlines(keepends=True),
                    expected[name].decode().splitlines(keepends=True),
                    fromfile=(tree / name).as_posix(),
                    tofile=(tree / name).as_posix(),
                )
            )
    assert result.out == diff


def test_dry_run_diff_of_relative_paths_applies_with_git(
    tree: Path, tmp_path: Path, placeholders: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tree)
    result = run_cli("pin", "--dry-run", ".", "--exclude", "vendor")
    assert result.code == 0, result.err
    assert "--- a/app/Dockerfile\n+++ b/app/Dockerfile\n" in result.out
    patch = tmp_path / "pin.diff"
    patch.write_text(result.out)
    applied = subprocess.run(
        ["git", "apply", str(patch)], cwd=tree, capture_output=True, text=True, check=False
    )
    assert applied.returncode == 0, applied.stderr
    assert tree_of(tree) == expected_tree("expected", tmp_path, placeholders)


def check_lines(tree: Path) -> tuple[int, list[str]]:
    result = run_cli("pin", "--check", str(tree), "--exclude", "vendor")
    assert "Traceback" not in result.err
    if result.code:
        assert result.err.splitlines()[-1].startswith("tagtrail: "), result.err
        assert " unpinned or stale and 0 unresolved of 13 image references in 5 files" in (
            result.err
        )
    return result.code, result.out.splitlines()


def test_check_exit_codes(tree: Path, placeholders: dict[str, str]) -> None:
    before = tree_of(tree)
    code, lines = check_lines(tree)
    assert code == 1
    assert tree_of(tree) == before
    assert sum(line.endswith(": unpinned") for line in lines) == 9
    stale = [line for line in lines if ": stale: " in line]
    assert len(stale) == 2
    assert any(
        line.startswith(f"{tree / 'k8s' / 'cronjob.yml'}:15: ")
        and line.endswith(placeholders["__APP__"])
        for line in stale
    )
    assert run_cli("pin", str(tree), "--exclude", "vendor").code == 0
    code, lines = check_lines(tree)
    assert code == 1
    assert len(lines) == 2
    assert all(": stale: " in line for line in lines)
    assert run_cli("pin", "--update", str(tree), "--exclude", "vendor").code == 0
    assert check_lines(tree) == (0, ["13 image references in 5 files: all pinned and current"])


def test_exclude_patterns(tree: Path, placeholders: dict[str, str]) -> None:
    vendored = tree / "vendor" / "Dockerfile"
    original = vendored.read_text()
    result = run_cli(
        "pin", str(tree), "--exclude", "*.yml", "--exclude", "*.yaml", "--exclude", "app"
    )
    assert result.code == 0, result.err
    assert [line.split(":")[0] for line in result.out.splitlines()] == [str(vendored)]
    assert vendored.read_text() == original.replace(
        "python:3.12\n", f"python:3.12@{placeholders['__PYTHON_3_12__']}\n"
    )
    assert (tree / "compose" / "docker-compose.yml").read_bytes() == (
        FIXTURE / "input" / "compose" / "docker-compose.yml"
    ).read_text().replace("__REGISTRY__", placeholders["__REGISTRY__"]).encode()


def test_a_named_file_and_crlf_endings(tmp_path: Path, placeholders: dict[str, str]) -> None:
    host = placeholders["__REGISTRY__"]
    build = tmp_path / "build.docker"
    build.write_bytes(f"FROM {host}/pin/redis:7 AS cache\r\n# done\r\n".encode())
    result = run_cli("pin", str(build))
    assert result.code == 0, result.err
    assert build.read_bytes() == (
        f"FROM {host}/pin/redis:7@{placeholders['__REDIS__']} AS cache\r\n# done\r\n".encode()
    )


def test_unknown_tag_changes_nothing(tree: Path, placeholders: dict[str, str]) -> None:
    dockerfile = tree / "app" / "Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text() + f"FROM {placeholders['__REGISTRY__']}/pin/nope:1\n"
    )
    before = tree_of(tree)
    result = run_cli("pin", str(tree))
    assert result.code == 1
    assert f"{dockerfile}:33: cannot resolve" in result.err
    assert "unknown tag" in result.err
    assert tree_of(tree) == before


def test_missing_path_is_one_line(tmp_path: Path) -> None:
    assert_one_line_error(run_cli("pin", str(tmp_path / "nothing")), "no such file")


# -- --at -------------------------------------------------------------------------------------


def test_pin_at_picks_the_digest_current_then_to_the_millisecond(
    registry: RunningServer, tmp_path: Path
) -> None:
    name, tag = repo("pin-at"), "moving"
    with httpx.Client(base_url=registry.url, timeout=30, verify=SHARED) as client:
        ensure_config(client, name)
        digests = [put_tag(client, name, tag, small_manifest(f"{name}#{i}")) for i in range(6)]
    history = db_history(registry, name, tag)
    assert [r.digest for r in history] == digests
    ref = f"{registry.host}/{name}:{tag}"
    dockerfile = tmp_path / "Dockerfile"

    def pin_at(at: str) -> str:
        dockerfile.write_text(f"FROM {ref} AS app\n")
        result = run_cli("pin", "--at", at, str(dockerfile))
        assert result.code == 0, result.err
        assert "note:" not in result.err  # the OCI extension sees deletions
        pinned = dockerfile.read_text()
        assert pinned.startswith(f"FROM {ref}@") and pinned.endswith(" AS app\n"), pinned
        return pinned.split("@")[1].split()[0]

    for index, record in enumerate(history):
        assert pin_at(format_timestamp(record.ts_ms)) == digests[index]
        # 999 microseconds later is still the same millisecond.
        micro = format_timestamp(record.ts_ms).replace("Z", "999Z")
        assert pin_at(micro) == digests[index]
        if index and history[index - 1].ts_ms < record.ts_ms - 1:
            assert pin_at(format_timestamp(record.ts_ms - 1)) == digests[index - 1]
    before = format_timestamp(history[0].ts_ms - 1)
    dockerfile.write_text(f"FROM {ref}\n")
    result = run_cli("pin", "--at", before, str(dockerfile))
    assert result.code == 1
    assert "did not exist at" in result.err
    assert dockerfile.read_text() == f"FROM {ref}\n"


def test_pin_at_a_moment_the_tag_was_deleted(registry: RunningServer, tmp_path: Path) -> None:
    name, tag = repo("pin-deleted"), "gone"
    with httpx.Client(base_url=registry.url, timeout=30, verify=SHARED) as client:
        ensure_config(client, name)
        put_tag(client, name, tag, small_manifest(f"{name}#0"))
        assert client.delete(f"/v2/{name}/manifests/{tag}").status_code == 202
        again = put_tag(client, name, tag, small_manifest(f"{name}#1"))
    created, deleted, recreated = db_history(registry, name, tag)
    assert (created.event, deleted.event, recreated.event) == ("created", "deleted", "created")
    dockerfile = tmp_path / "Dockerfile"
    ref = f"{registry.host}/{name}:{tag}"
    dockerfile.write_text(f"FROM {ref}\n")
    result = run_cli("pin", "--at", format_timestamp(deleted.ts_ms), str(dockerfile))
    assert result.code == 1
    assert f"did not exist at {format_timestamp(deleted.ts_ms)}: it was deleted at" in result.err
    assert dockerfile.read_text() == f"FROM {ref}\n"
    result = run_cli("pin", "--at", format_timestamp(recreated.ts_ms), str(dockerfile))
    assert result.code == 0, result.err
    assert dockerfile.read_text() == f"FROM {ref}@{again}\n"


def test_a_named_file_that_is_nothing_to_pin_is_named_as_skipped(
    tmp_path: Path, placeholders: dict[str, str]
) -> None:
    host = placeholders["__REGISTRY__"]
    readme, values = tmp_path / "README.md", tmp_path / "values.yaml"
    readme.write_text(f"Build with {host}/pin/redis:7\nfrom there on, all is well\n")
    values.write_text("replicas: 2\n")
    build = tmp_path / "build.docker"
    build.write_text(f"FROM {host}/pin/redis:7\n")
    result = run_cli("pin", str(readme), str(values), str(build))
    assert result.code == 0, result.err
    reason = "skipped: not a Dockerfile, compose file or Kubernetes manifest"
    assert result.err.splitlines() == [f"{readme}: {reason}", f"{values}: {reason}"]
    redis = f"{host}/pin/redis:7"
    assert result.out == f"{build}:1: pinned {redis} -> {redis}@{placeholders['__REDIS__']}\n"
    assert readme.read_text() == f"Build with {host}/pin/redis:7\nfrom there on, all is well\n"
