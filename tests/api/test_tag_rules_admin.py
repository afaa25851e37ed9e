"""Who may remove an immutable-tag rule, with auth on (in-process): an organisation's admin
(not only the server's), over ``DELETE /v2/_tagtrail/rules/<id>``; members without the admin
role, admins of another organisation, pull tokens and anonymous callers may not. A removal is
recorded (who, when: ``rule list --removed``) and logged, from the API and the CLI alike; a
rule in force holds pushes from every caller, server admin included."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import assert_oci_error, push_image, put_manifest
from tests.auth.cli import add_user, admin, admin_cli, create_pull_token
from tests.client.test_openapi import check
from tests.inprocess import InProcessRegistry, in_process_registry

ADMIN_PASSWORD = "rules-admin-" + uuid.uuid4().hex
ALICE = ("alice", "alice-" + uuid.uuid4().hex)  # admin of ORG
BOB = ("bob", "bob-" + uuid.uuid4().hex)  # may push to ORG, no admin
CAROL = ("carol", "carol-" + uuid.uuid4().hex)  # admin of OTHER only
ORG, OTHER = "ruled", "elsewhere"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessRegistry]:
    data: Path = tmp_path_factory.mktemp("rules-admin") / "data"
    with in_process_registry(data, auth=True, admin_password=ADMIN_PASSWORD) as registry:
        for user in (ALICE, BOB, CAROL):
            add_user(data, *user)
        admin(data, "org", "create", ORG)
        admin(data, "org", "create", OTHER)
        admin(data, "org", "member", "add", ORG, "alice", "--role", "admin")
        admin(data, "org", "member", "add", ORG, "bob", "--role", "push")
        admin(data, "org", "member", "add", OTHER, "carol", "--role", "admin")
        yield registry


def add_rule(registry: InProcessRegistry, pattern: str) -> int:
    out = admin(registry.data_dir, "rule", "add", ORG, "--immutable", pattern)
    found = re.match(r"added rule #(\d+) ", out)
    assert found, out
    return int(found.group(1))


def remove(registry: InProcessRegistry, rule_id: int, **options: object) -> httpx.Response:
    with registry.client(**options) as http:
        return http.delete(f"/v2/_tagtrail/rules/{rule_id}")


def test_only_an_admin_of_its_organisation_removes_a_rule(
    registry: InProcessRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    rule_id = add_rule(registry, "v*")
    one = "/v2/_tagtrail/rules/{id}"
    check(one, "delete", remove(registry, rule_id))  # every answer is a documented one
    check(one, "delete", remove(registry, rule_id, auth=BOB))
    assert_oci_error(remove(registry, rule_id), 401, "UNAUTHORIZED")
    denied = assert_oci_error(remove(registry, rule_id, auth=BOB), 403, "DENIED")
    assert denied["message"] == f"administering the tag rules of {ORG} denied for user bob"
    assert_oci_error(remove(registry, rule_id, auth=CAROL), 403, "DENIED")
    token = create_pull_token(registry.data_dir, ORG, push=True)
    bearer = {"Authorization": f"Bearer {token.secret}"}
    assert_oci_error(remove(registry, rule_id, headers=bearer), 403, "DENIED")
    with registry.client(auth=BOB) as http:  # none of the refusals removed it
        assert http.get("/v2/_tagtrail/rules", params={"org": ORG}).status_code == 403
    with registry.client(auth=ALICE) as http:
        answer = http.get("/v2/_tagtrail/rules", params={"org": ORG})
        check("/v2/_tagtrail/rules", "get", answer)
        check("/v2/_tagtrail/rules", "get", http.get("/v2/_tagtrail/rules"))
        listed = answer.json()["rules"]
        assert rule_id in [r["id"] for r in listed]
        with caplog.at_level(logging.INFO, logger="tagtrail.rules"):
            response = http.delete(f"/v2/_tagtrail/rules/{rule_id}")
        assert response.status_code == 200, response.text
        check(one, "delete", response)
        assert (response.json()["id"], response.json()["removedBy"]) == (rule_id, "alice")
        assert response.json()["removed"] is not None
        # The audit record, over HTTP and in the CLI.
        removed = http.get("/v2/_tagtrail/rules", params={"org": ORG, "removed": "true"})
        check("/v2/_tagtrail/rules", "get", removed)
        assert [(r["id"], r["removedBy"]) for r in removed.json()["rules"]] == [(rule_id, "alice")]
        assert rule_id not in [
            r["id"] for r in http.get("/v2/_tagtrail/rules", params={"org": ORG}).json()["rules"]
        ]
        gone = http.delete(f"/v2/_tagtrail/rules/{rule_id}")
        check(one, "delete", gone)
        assert_oci_error(gone, 404, "NOT_FOUND")
    assert any(
        f"tag rule #{rule_id} {ORG} v* removed by alice" in r.getMessage() for r in caplog.records
    )
    listing = admin(registry.data_dir, "rule", "list", ORG, "--removed")
    assert re.search(
        rf"^#{rule_id} {ORG} v\*  added \S+ by cli:\S+  removed \S+ by alice$", listing, re.M
    )


def test_a_rule_holds_every_caller_and_the_cli_removal_is_logged(
    registry: InProcessRegistry,
) -> None:
    rule_id = add_rule(registry, "r*")
    name = f"{ORG}/app-{uuid.uuid4().hex[:8]}"
    with registry.client(auth=("admin", ADMIN_PASSWORD)) as http:
        first = push_image(http, name, "r1")
        other = push_image(http, name)
        refused = assert_oci_error(put_manifest(http, name, "r1", other.body), 409)
        assert refused["code"] == "TAG_IMMUTABLE" and f"#{rule_id} {ORG} r*" in refused["message"]
        assert http.head(f"/v2/{name}/manifests/r1").headers["docker-content-digest"] == (
            first.digest
        )
    done = admin_cli(registry.data_dir, "rule", "rm", str(rule_id))
    assert done.stdout.startswith(f"removed rule #{rule_id} {ORG} r*")
    assert re.search(rf"tag rule #{rule_id} {ORG} r\* removed by cli:\S+", done.stderr)
    removal = admin(registry.data_dir, "rule", "list", "--removed")
    assert re.search(rf"^#{rule_id} .* removed \S+ by cli:\S+$", removal, re.M)
