"""Immutable-tag rules over the wire (the in-process app, auth off): a covered tag is created
once; moving, deleting or restoring it is ``409 TAG_IMMUTABLE`` naming the rule, with nothing
recorded and the tag where it was; the same digest again is accepted; ``--except`` exempts.
Rules are added and removed with ``tagtrail admin rule``, as an operator would, on the app's
own database."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import httpx

from tests.api.helpers import assert_oci_error, push_image, put_manifest
from tests.api.test_oci_history import tag_history
from tests.cli.helpers import tagtrail
from tests.inprocess import InProcessRegistry


def organisation() -> str:
    """An organisation no other test has rules for (nor a cached answer about)."""
    return f"rules{uuid.uuid4().hex[:12]}"


def rule(registry: InProcessRegistry, *args: str) -> str:
    """``tagtrail admin rule ARGS`` on the app's database: its output."""
    done = tagtrail("admin", "--data-dir", str(registry.data_dir), "rule", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def add_rule(registry: InProcessRegistry, target: str, *args: str) -> int:
    out = rule(registry, "add", target, *args)
    found = re.match(r"added rule #(\d+) ", out)
    assert found, out
    return int(found.group(1))


def wait_until_held(client: httpx.Client, name: str, probe: str) -> None:
    """Until the app holds a rule added after it read the organisation's rules (its cache
    lasts seconds): ``probe``, a tag of no interest the rule covers, stops moving."""
    images = [push_image(client, name), push_image(client, name)]
    deadline = time.monotonic() + 10
    for n in range(10_000):
        response = put_manifest(client, name, probe, images[n % 2].body)
        if response.status_code == 409 or time.monotonic() > deadline:
            break
        assert response.status_code == 201, response.text
        time.sleep(0.05)
    assert_oci_error(response, 409, "TAG_IMMUTABLE")


def current(client: httpx.Client, name: str, tag: str) -> str | None:
    response = client.head(f"/v2/{name}/manifests/{tag}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return response.headers["docker-content-digest"]


def history(client: httpx.Client, name: str, tag: str) -> list[tuple[str, Any]]:
    entries, _ = tag_history(client, name, tag)
    return [(e["digest"], e["annotations"].get("dev.tagtrail.action")) for e in entries]


def assert_refused(response: httpx.Response, rule_id: int, tag: str) -> None:
    error = assert_oci_error(response, 409, "TAG_IMMUTABLE")
    assert f"rule #{rule_id} " in error["message"], error
    assert error["detail"]["tag"] == tag and error["detail"]["rule"].startswith(f"#{rule_id} ")


def test_an_immutable_tag_is_created_once_and_never_moved(
    client: httpx.Client, app_registry: InProcessRegistry
) -> None:
    org = organisation()
    name = f"{org}/app"
    rule_id = add_rule(app_registry, org, "--immutable", "v*")
    first = push_image(client, name, "v1")
    before = history(client, name, "v1")
    other = push_image(client, name)  # by digest: untagged
    response = put_manifest(client, name, "v1", other.body)
    assert_refused(response, rule_id, "v1")
    assert f"{org} v*" in response.json()["errors"][0]["message"]
    assert current(client, name, "v1") == first.digest
    assert history(client, name, "v1") == before == [(first.digest, "push")]
    # Pushing the same digest again is accepted (Harbor's and ECR's semantics).
    again = put_manifest(client, name, "v1", first.body)
    assert again.status_code == 201, again.text
    assert history(client, name, "v1") == before
    # Tags the pattern does not match move freely.
    push_image(client, name, "dev")
    push_image(client, name, "dev")
    assert len(history(client, name, "dev")) == 2


def test_except_exempts_and_a_repository_glob_narrows(
    client: httpx.Client, app_registry: InProcessRegistry
) -> None:
    org = organisation()
    rule_id = add_rule(app_registry, f"{org}/app-*", "--immutable", "*", "--except", "latest")
    guarded, free = f"{org}/app-web", f"{org}/tools"
    push_image(client, guarded, "latest")
    moved = push_image(client, guarded, "latest")
    assert current(client, guarded, "latest") == moved.digest
    kept = push_image(client, guarded, "1.0.0")
    other = push_image(client, guarded)
    assert_refused(put_manifest(client, guarded, "1.0.0", other.body), rule_id, "1.0.0")
    assert current(client, guarded, "1.0.0") == kept.digest
    push_image(client, free, "1.0.0")
    last = push_image(client, free, "1.0.0")
    assert current(client, free, "1.0.0") == last.digest


def test_a_push_by_digest_naming_an_immutable_tag_moves_none(
    client: httpx.Client, app_registry: InProcessRegistry
) -> None:
    org = organisation()
    name = f"{org}/app"
    rule_id = add_rule(app_registry, f"{org}/app", "--immutable", "v*")
    first = push_image(client, name, "v1")
    push_image(client, name, "latest")
    latest = current(client, name, "latest")
    other = push_image(client, name)
    response = client.put(
        f"/v2/{name}/manifests/{other.digest}",
        params=[("tag", "latest"), ("tag", "v1")],
        content=other.body,
        headers={"Content-Type": other.media_type},
    )
    assert_refused(response, rule_id, "v1")
    assert (current(client, name, "v1"), current(client, name, "latest")) == (
        first.digest,
        latest,
    )
    response = client.put(
        f"/v2/{name}/manifests/{other.digest}",
        params=[("tag", "latest"), ("tag", "v2")],
        content=other.body,
        headers={"Content-Type": other.media_type},
    )
    assert response.status_code == 201, response.text
    assert current(client, name, "v2") == current(client, name, "latest") == other.digest


def test_deleting_an_immutable_tag_or_its_manifest_is_refused(
    client: httpx.Client, app_registry: InProcessRegistry
) -> None:
    org = organisation()
    name = f"{org}/app"
    rule_id = add_rule(app_registry, org, "--immutable", "v*")
    first = push_image(client, name, "v1")
    assert_refused(client.delete(f"/v2/{name}/manifests/v1"), rule_id, "v1")
    assert_refused(client.delete(f"/v2/{name}/manifests/{first.digest}"), rule_id, "v1")
    assert current(client, name, "v1") == first.digest
    assert client.get(f"/v2/{name}/manifests/{first.digest}").status_code == 200
    assert history(client, name, "v1") == [(first.digest, "push")]
    # A tag no rule covers is deleted as before.
    push_image(client, name, "scratch")
    assert client.delete(f"/v2/{name}/manifests/scratch").status_code == 202


def test_restoring_an_immutable_tag_is_refused(
    client: httpx.Client, app_registry: InProcessRegistry
) -> None:
    org = organisation()
    name = f"{org}/app"
    one = push_image(client, name, "v1")
    two = push_image(client, name, "v1")  # moved before the rule existed
    rule_id = add_rule(app_registry, org, "--immutable", "v*")
    wait_until_held(client, name, "vprobe")
    before = history(client, name, "v1")
    response = client.post(f"/v2/{name}/_tagtrail/tags/v1/restore", json={"digest": one.digest})
    assert_refused(response, rule_id, "v1")
    assert current(client, name, "v1") == two.digest
    assert history(client, name, "v1") == before
    # Restoring to where it points is no move, and accepted.
    same = client.post(f"/v2/{name}/_tagtrail/tags/v1/restore", json={"digest": two.digest})
    assert same.status_code == 200 and same.json()["moved"] is False, same.text


def test_a_removed_rule_stops_holding_within_seconds(
    client: httpx.Client, app_registry: InProcessRegistry
) -> None:
    """The CLI removes the rule from another "process" (the app's cache is not told): the app
    follows within its cache time."""
    org = organisation()
    name = f"{org}/app"
    rule_id = add_rule(app_registry, org, "--immutable", "v*")
    push_image(client, name, "v1")
    other = push_image(client, name)
    assert_refused(put_manifest(client, name, "v1", other.body), rule_id, "v1")  # cached now
    assert f"removed rule #{rule_id} " in rule(app_registry, "rm", str(rule_id))
    deadline = time.monotonic() + 10
    while True:
        response = put_manifest(client, name, "v1", other.body)
        if response.status_code == 201 or time.monotonic() > deadline:
            break
        assert_refused(response, rule_id, "v1")
        time.sleep(0.05)
    assert response.status_code == 201, response.text
    assert current(client, name, "v1") == other.digest
