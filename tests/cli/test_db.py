"""``tagtrail db upgrade|current`` on SQLite and PostgreSQL (``upgrade`` creates, ``current``
only looks), and a server refusing an old schema. The ``db`` commands run in this process
(``tests.cli.helpers``), the server as a process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tagtrail.meta.migrate import HEAD_REVISION
from tests.cli.helpers import tagtrail
from tests.postgres import fresh_database


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_current_then_upgrade(tmp_path: Path, backend: str) -> None:
    def run_with(url: str) -> None:
        where = ["--database-url", url]
        upgraded = tagtrail("db", *where, "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        assert f"to {HEAD_REVISION}" in upgraded.stdout
        after = tagtrail("db", *where, "current")
        assert after.stdout.strip() == f"{HEAD_REVISION} (head)"

    if backend == "sqlite":
        path = tmp_path / "new" / "meta.db"
        url = f"sqlite:///{path}"
        before = tagtrail("db", "--database-url", url, "current")
        assert before.returncode == 1, before.stdout
        assert before.stderr.startswith(f"tagtrail: no database at {path}: "), before.stderr
        assert not (tmp_path / "new").exists()  # current only looks
        run_with(url)
    else:
        with fresh_database() as url:
            before = tagtrail("db", "--database-url", url, "current")
            assert before.returncode == 0, before.stderr
            assert before.stdout.strip() == f"nothing (head is {HEAD_REVISION})"
            run_with(url)


def test_server_refuses_an_outdated_schema_without_migrate_on_start(tmp_path: Path) -> None:
    with fresh_database() as url:
        result = subprocess.run(
            [sys.executable, "-m", "tagtrail", "serve", "--data-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={
                "PATH": "/usr/bin:/bin",
                "TAGTRAIL_DATABASE_URL": url,
                "TAGTRAIL_MIGRATE_ON_START": "false",
            },
        )
    assert result.returncode == 1
    assert "run `tagtrail db upgrade`" in result.stderr
    assert "Traceback" not in result.stderr
