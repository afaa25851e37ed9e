"""``tagtrail admin``: the first start's admin, and commands with the server down or up."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.api.helpers import push_image
from tests.auth.cli import admin, admin_cli, admin_parallel, parse_pull_token, token_args
from tests.auth.conftest import StartAuth
from tests.auth.helpers import client, pull, push, remember, request_token, token_for
from tests.auth.jwts import access_of
from tests.auth.world import World
from tests.cli.helpers import tagtrail
from tests.server import start_server
from tests.ssl_context import SHARED

_PRINTED_RE = re.compile(r"^.*\badmin\b.*password.*:\s*(\S+)\s*$", re.MULTILINE | re.IGNORECASE)


def test_first_start_prints_admin_password_once_and_commands_work_offline(
    start_auth: StartAuth, tmp_path: Path
) -> None:
    data = tmp_path / "fresh"
    first = start_auth(data, TAGTRAIL_ADMIN_PASSWORD="")
    printed = _PRINTED_RE.findall(first.log())
    assert len(printed) == 1, first.log()
    password = printed[0]
    remember(password)
    admin = ("admin", password)
    assert access_of(token_for(first.url, [push("team/app")], admin)) == {
        ("repository", "team/app"): {"pull", "push"}
    }
    first.stop()

    carol = "carol-" + password[::-1]
    remember(carol)
    admin_parallel(
        data,
        (["user", "add", "carol", "--password-stdin"], carol + "\n"),
        (["org", "create", "team"], None),
    )
    *_, (_, created) = admin_parallel(
        data,
        (["org", "member", "add", "team", "carol", "--role", "push"], None),
        (["repo", "visibility", "team/app", "public"], None),
        (token_args("team", ttl="1h"), None),
    )
    token = parse_pull_token(created)

    second = start_auth(data)
    assert password not in second.log()
    assert not _PRINTED_RE.search(second.log()), second.log()
    assert request_token(second.url, [], admin).status_code == 200
    with client(second.url, token_for(second.url, [push("team/app")], ("carol", carol))) as http:
        image = push_image(http, "team/app", "latest")
    with client(second.url, token_for(second.url, [pull("team/app")])) as http:
        assert http.get("/v2/team/app/manifests/latest").content == image.body
    with client(second.url, token.secret) as http:
        assert http.get(f"/v2/team/app/manifests/{image.digest}").status_code == 200


def test_commands_work_with_the_server_up(world: World) -> None:
    password = "frank-" + world.acme_pull.id[::-1]
    remember(password)
    admin_cli(world.data_dir, "user", "add", "frank", "--password-stdin", stdin=password + "\n")
    admin(world.data_dir, "org", "member", "add", "peer", "frank", "--role", "pull")
    granted = token_for(world.url, [push("peer/app")], ("frank", password))
    assert access_of(granted) == {("repository", "peer/app"): {"pull"}}


def test_commands_on_a_new_data_directory(tmp_path: Path) -> None:
    """Before the first start (the directory does not exist yet): a clean error naming the
    database looked for, and nothing created."""
    done = admin_cli(tmp_path / "not-yet", "org", "create", "early", check=False)
    assert done.returncode == 1, done.stdout
    assert done.stderr.startswith(f"tagtrail: no database at {tmp_path / 'not-yet'}/tagtrail.db")
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert list(tmp_path.iterdir()) == []


def test_org_list_and_rm(world: World) -> None:
    password = "gina-" + world.acme_pull.id[::-1]
    remember(password)
    admin(world.data_dir, "user", "add", "gina", "--password-stdin", stdin=password + "\n")
    admin(world.data_dir, "org", "create", "doomed", "--visibility", "private")
    admin(world.data_dir, "org", "member", "add", "doomed", "gina", "--role", "push")
    token = parse_pull_token(admin(world.data_dir, *token_args("doomed")))
    listed = admin(world.data_dir, "org", "list").splitlines()
    assert "doomed  private  gina (push)" in listed
    assert "open  public  no members" in listed
    assert [line.split()[0] for line in listed] == sorted(line.split()[0] for line in listed)
    gina = ("gina", password)
    assert access_of(token_for(world.url, [push("doomed/app")], gina)) == {
        ("repository", "doomed/app"): {"pull", "push"}
    }
    assert request_token(world.url, [pull("doomed/app")], (token.id, token.secret)).is_success

    removed = admin(world.data_dir, "org", "rm", "doomed")
    assert removed.strip() == (
        "removed organisation doomed with its memberships (1) and pull tokens (1)"
    )
    assert "doomed" not in admin(world.data_dir, "org", "list")
    assert token.id not in admin(world.data_dir, "token", "list")
    assert access_of(token_for(world.url, [push("doomed/app")], gina)) == {}
    refused = request_token(world.url, [pull("doomed/app")], (token.id, token.secret))
    assert refused.status_code == 401
    again = admin_cli(world.data_dir, "org", "rm", "doomed", check=False)
    assert again.returncode == 1
    assert again.stderr.strip() == "tagtrail: organisation doomed does not exist"


def test_wrong_commands_fail_cleanly(world: World) -> None:
    done = admin_cli(world.data_dir, "org", "member", "add", "nosuch", "bob", check=False)
    assert done.returncode != 0, done.stdout
    assert "nosuch" in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert httpx.get(f"{world.url}/v2/", verify=SHARED).status_code == 401


def test_admin_is_created_when_users_were_added_before_the_first_start(tmp_path: Path) -> None:
    """Users added before the first start do not stop it from creating the admin."""
    data = tmp_path / "data"
    created = tagtrail("db", "upgrade", "--data-dir", str(data))
    assert created.returncode == 0, created.stderr  # admin commands never create a database
    admin(data, "user", "add", "early")
    server = start_server(data, "--auth")
    try:
        assert "created user admin; its password (shown only this once): " in server.log()
    finally:
        server.stop()
