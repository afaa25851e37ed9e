"""``tagtrail admin mirror add|list|rm`` in this process, against a real Distribution and an
authenticated tagtrail: the upstream checked, the organisation made, the password sealed."""

from __future__ import annotations

import io
import socket
import sqlite3
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from tagtrail.cli.main import main
from tests.auth.cli import admin
from tests.auth.helpers import ADMIN_PASSWORD
from tests.mirror.upstreams import Distribution
from tests.server import RunningServer

SECRET = "the-upstream-password-9f2c"


def run(data_dir: Path, *args: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    saved, sys.stdin = sys.stdin, io.StringIO(stdin)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main(["admin", "--data-dir", str(data_dir), *args])
    finally:
        sys.stdin = saved
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    code, _, err = run_db(data)
    assert code == 0, err
    return data


def run_db(data: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["db", "upgrade", "--data-dir", str(data)])
    return code, out.getvalue(), err.getvalue()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_add_list_rm_against_distribution(data_dir: Path, distribution: Distribution) -> None:
    added = admin(data_dir, "mirror", "add", "dist", distribution.url, "--check-interval", "5m")
    assert added.strip() == (
        f"dist mirrors {distribution.url} anonymously, checking tags every 300 s (ok)"
    )
    assert admin(data_dir, "mirror", "list").splitlines() == [
        f"dist  {distribution.url}  anonymous  every 300 s  ok"
    ]
    # The prefix is an organisation of its own, private: members and tokens work as for any.
    assert admin(data_dir, "org", "list").splitlines() == ["dist  private  no members"]
    code, _, err = run(data_dir, "mirror", "add", "dist", distribution.url)
    assert (code, err) == (1, "tagtrail: dist is a mirror already\n")
    removed = admin(data_dir, "mirror", "rm", "dist")
    assert "its organisation and repositories stay" in removed
    assert admin(data_dir, "mirror", "list") == ""
    assert "dist  private" in admin(data_dir, "org", "list")
    code, _, err = run(data_dir, "mirror", "rm", "dist")
    assert (code, err) == (1, "tagtrail: dist is no mirror\n")


def test_credentials_are_checked_sealed_and_never_shown(
    data_dir: Path, auth_upstream: RunningServer
) -> None:
    code, out, err = run(
        data_dir,
        "mirror",
        "add",
        "up",
        auth_upstream.url,
        "--username",
        "admin",
        "--password-stdin",
        stdin=SECRET + "\n",
    )
    assert code == 1 and out == ""
    assert err.startswith(f"tagtrail: {auth_upstream.url} refused the credentials: ")
    assert len(err.splitlines()) == 1 and SECRET not in err
    assert admin(data_dir, "mirror", "list") == ""  # nothing registered

    added = admin(
        data_dir,
        "mirror",
        "add",
        "up",
        auth_upstream.url,
        "--username",
        "admin",
        "--password-stdin",
        stdin=ADMIN_PASSWORD + "\n",
    )
    assert "as admin" in added and ADMIN_PASSWORD not in added
    listed = admin(data_dir, "mirror", "list")
    assert listed.split() == [
        "up",
        auth_upstream.url,
        "admin",
        "every",
        "60",
        "s",
        "ok",
    ]
    # A dump of the database alone does not hold the password; the key file is apart.
    dump = "\n".join(sqlite3.connect(data_dir / "tagtrail.db").iterdump())
    assert ADMIN_PASSWORD not in dump and "admin" in dump
    key = data_dir / "keys" / "mirror-credentials.key"
    assert key.stat().st_mode & 0o777 == 0o600


def test_unreachable_upstream_is_one_line_and_no_check_registers_it(data_dir: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out, err = run(data_dir, "mirror", "add", "gone", url)
    assert code == 1 and out == ""
    assert err.startswith(f"tagtrail: {url} did not answer as a registry: ")
    assert err.endswith("(--no-check registers it anyway)\n") and len(err.splitlines()) == 1
    added = admin(data_dir, "mirror", "add", "gone", url, "--no-check")
    assert added.strip().endswith("(unchecked)")
    assert admin(data_dir, "mirror", "list").split()[-1] == "unchecked"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("Bad/Prefix", "https://quay.io"), "mirror prefix 'Bad/Prefix': one lowercase name"),
        (("a/b", "https://quay.io"), "mirror prefix 'a/b'"),
        (("ok", "ftp://quay.io"), "mirror URL: http(s)://host[:port]"),
        (("ok", "https://u:p@quay.io"), "no user or password in it"),
        (("ok", "https://quay.io", "--check-interval", "0s"), "at least 1 s"),
        (("ok", "https://quay.io", "--username", "u"), "--username needs --password-stdin"),
        (("ok", "https://quay.io", "--password-stdin"), "--password-stdin goes with --username"),
    ],
)
def test_bad_arguments_are_one_line(data_dir: Path, args: tuple[str, ...], message: str) -> None:
    code, out, err = run(data_dir, "mirror", "add", *args, "--no-check", stdin="pw\n")
    assert code == 1 and out == "", err
    assert err.startswith("tagtrail: ") and message in err and len(err.splitlines()) == 1
    assert "u:p" not in err


def test_a_prefix_holding_repositories_is_refused(data_dir: Path) -> None:
    db = sqlite3.connect(data_dir / "tagtrail.db")
    with db:
        db.execute("INSERT INTO repositories (name, created_ms) VALUES ('acme/app', 1)")
    db.close()
    admin(data_dir, "org", "create", "acme")
    code, _, err = run(data_dir, "mirror", "add", "acme", "https://quay.io", "--no-check")
    assert code == 1 and "acme already holds 1 repositories" in err
