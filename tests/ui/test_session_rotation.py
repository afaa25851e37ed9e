"""Rotating the UI's session key on a real server: ``tagtrail admin key rotate --sessions``,
then a restart. Sessions signed with the old key stay signed in until the old key's line is
deleted; new sessions are signed with the new key. The key file exists once the server is up,
before any request (it is read at startup, never on a request)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tagtrail.ui.session import KEY_FILE, Codec, load_keys
from tests.api.helpers import push_image
from tests.cli.helpers import one_line_error, tagtrail
from tests.server import start_server
from tests.ui.conftest import ADMIN_PASSWORD, PRIVATE_ORG
from tests.ui.helpers import unique
from tests.ui.test_sessions import sign_in

ENV = {"TAGTRAIL_ADMIN_PASSWORD": ADMIN_PASSWORD}


def _sees(url: str, cookie: str, name: str) -> bool:
    with httpx.Client(base_url=url, cookies={"tagtrail_session": cookie}, timeout=30) as http:
        status = http.get(f"/repo/{name}").status_code
    assert status in (200, 404), status
    return status == 200


def _signed_in(url: str) -> str:
    with httpx.Client(base_url=url, timeout=30) as http:
        assert sign_in(http, "admin", ADMIN_PASSWORD).status_code == 303
        return http.cookies["tagtrail_session"]


def test_rotation_keeps_old_sessions_until_their_key_is_retired(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    key_file = data_dir / "keys" / KEY_FILE
    name = unique(PRIVATE_ORG)
    server = start_server(data_dir, "--auth", env=ENV)
    try:
        assert key_file.exists()  # made by the startup, not by a first UI request
        # In this process, on a thread of its own: Playwright's loop may be running in this
        # one (tests/ui), and the command runs its own.
        created = tagtrail(
            "admin",
            "--data-dir",
            str(data_dir),
            "org",
            "create",
            PRIVATE_ORG,
            "--visibility",
            "private",
        )
        assert created.returncode == 0, created.stderr
        with httpx.Client(base_url=server.url, auth=("admin", ADMIN_PASSWORD)) as api:
            push_image(api, name, "latest")
        old_cookie = _signed_in(server.url)
        assert _sees(server.url, old_cookie, name)
    finally:
        server.stop()

    done = tagtrail("admin", "--data-dir", str(data_dir), "key", "rotate", "--sessions")
    assert done.returncode == 0, done.stderr
    assert "restart the servers" in done.stdout
    old_key, new_key = load_keys(data_dir / "keys")
    server = start_server(data_dir, "--auth", env=ENV)
    try:
        assert _sees(server.url, old_cookie, name)  # still signed in
        new_cookie = _signed_in(server.url)
        assert Codec([new_key]).decode(new_cookie) is not None  # signed with the new key
        assert Codec([old_key]).decode(new_cookie) is None
    finally:
        server.stop()

    # A session lifetime later the operator deletes the old line: its sessions end.
    key_file.write_text("".join(key_file.read_text().splitlines(keepends=True)[1:]))
    server = start_server(data_dir, "--auth", env=ENV)
    try:
        assert not _sees(server.url, old_cookie, name)
        assert _sees(server.url, new_cookie, name)
    finally:
        server.stop()


def test_a_malformed_key_file_stops_the_start_in_one_line(tmp_path: Path) -> None:
    keys = tmp_path / "data" / "keys"
    keys.mkdir(parents=True)
    (keys / KEY_FILE).write_text("not-a-key\n")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAGTRAIL_")}
    done = subprocess.run(
        [sys.executable, "-m", "tagtrail", "serve", "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**clean, **ENV, "TAGTRAIL_LISTEN": "127.0.0.1:0"},
    )
    line = one_line_error(done)
    assert line == f"tagtrail: {keys / KEY_FILE}:1: not a key of 16 hex bytes or more"
