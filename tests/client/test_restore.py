"""``tagtrail restore``: the tag moves back with GET-by-digest and PUT-to-tag, and tagtrail's
history records the move like any other."""

from __future__ import annotations

import httpx

from tagtrail.times import format_timestamp
from tests.api.helpers import OCI_INDEX, repo, sha256
from tests.client.helpers import (
    assert_one_line_error,
    db_history,
    ensure_config,
    index_of,
    put_tag,
    run_cli,
    small_manifest,
)
from tests.server import RunningServer
from tests.ssl_context import SHARED


def current(registry: RunningServer, name: str, tag: str) -> str:
    response = httpx.head(
        f"{registry.url}/v2/{name}/manifests/{tag}",
        headers={"Accept": f"{OCI_INDEX}, application/vnd.oci.image.manifest.v1+json"},
        verify=SHARED,
    )
    assert response.status_code == 200, response.text
    digest: str = response.headers["docker-content-digest"]
    return digest


def test_restore_to_a_digest_moves_the_tag_and_history_shows_it(registry: RunningServer) -> None:
    name, tag = repo("restore"), "prod"
    with httpx.Client(base_url=registry.url, timeout=30, verify=SHARED) as client:
        ensure_config(client, name)
        child = small_manifest(f"{name}-child")
        put_tag(client, name, "child", child)
        index = index_of({"linux/amd64": child})
        first = put_tag(client, name, tag, index, OCI_INDEX)
        second = put_tag(client, name, tag, small_manifest(f"{name}-2"))
    ref = f"{registry.host}/{name}:{tag}"
    result = run_cli("restore", ref, "--to", first)
    assert result.code == 0, result.err
    assert result.out == f"{ref}: {second} -> {first}\n"
    assert current(registry, name, tag) == first
    history = run_cli("history", ref, "-o", "json").json()
    assert [r["digest"] for r in history] == [first, second, first]
    assert [r.digest for r in db_history(registry, name, tag)] == [first, second, first]
    # The index went back byte for byte, with its media type.
    response = httpx.get(
        f"{registry.url}/v2/{name}/manifests/{tag}", headers={"Accept": OCI_INDEX}, verify=SHARED
    )
    assert response.content == index
    assert response.headers["content-type"] == OCI_INDEX
    again = run_cli("restore", ref, "--to", first)
    assert again.code == 0, again.err
    assert again.out == f"{ref} already points to {first}\n"
    assert len(db_history(registry, name, tag)) == 3


def test_restore_at_a_time(registry: RunningServer) -> None:
    name, tag = repo("restore-at"), "prod"
    with httpx.Client(base_url=registry.url, timeout=30, verify=SHARED) as client:
        ensure_config(client, name)
        digests = [put_tag(client, name, tag, small_manifest(f"{name}#{i}")) for i in range(4)]
    records = db_history(registry, name, tag)
    ref = f"{registry.host}/{name}:{tag}"
    result = run_cli("restore", ref, "--at", format_timestamp(records[1].ts_ms))
    assert result.code == 0, result.err
    assert result.out == f"{ref}: {digests[3]} -> {digests[1]}\n"
    assert current(registry, name, tag) == digests[1]
    assert db_history(registry, name, tag)[-1].digest == digests[1]


def test_restore_a_deleted_tag(registry: RunningServer) -> None:
    name, tag = repo("restore-deleted"), "prod"
    with httpx.Client(base_url=registry.url, timeout=30, verify=SHARED) as client:
        ensure_config(client, name)
        digest = put_tag(client, name, tag, small_manifest(f"{name}#0"))
        assert client.delete(f"/v2/{name}/manifests/{tag}").status_code == 202
    ref = f"{registry.host}/{name}:{tag}"
    deleted_at = db_history(registry, name, tag)[-1].ts_ms
    refused = run_cli("restore", ref, "--at", format_timestamp(deleted_at))
    assert_one_line_error(refused, "did not exist at", "deleted at")
    result = run_cli("restore", ref, "--at", format_timestamp(deleted_at - 1))
    assert result.code == 0, result.err
    assert result.out == f"{ref}: (no tag) -> {digest}\n"
    assert current(registry, name, tag) == digest


def test_restore_errors_are_one_line(registry: RunningServer) -> None:
    name = repo("restore-errors")
    with httpx.Client(base_url=registry.url, timeout=30, verify=SHARED) as client:
        ensure_config(client, name)
        put_tag(client, name, "prod", small_manifest(f"{name}#0"))
    ref = f"{registry.host}/{name}:prod"
    unknown = sha256(b"never pushed")
    # tagtrail's restore endpoint refuses a digest the tag never had (pushed or not).
    assert_one_line_error(run_cli("restore", ref, "--to", unknown), "never pointed to", unknown)
    assert_one_line_error(run_cli("restore", ref, "--to", "latest"), "is not a digest")
    assert_one_line_error(run_cli("restore", f"{ref}@{unknown}", "--to", unknown), "names a digest")
    assert_one_line_error(
        run_cli("restore", ref, "--at", "2001-01-01"), "did not exist at", "starts later"
    )
    missing = run_cli("restore", ref)
    assert missing.code == 2  # argparse: one of --to/--at is required
