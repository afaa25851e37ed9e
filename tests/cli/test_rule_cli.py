"""``tagtrail admin rule add|list|rm`` in this process, on a fresh database: what is stored,
what is printed, and what is refused in words."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.cli.helpers import one_line_error, tagtrail


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    done = tagtrail("db", "upgrade", "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    return data


def rule(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return tagtrail("admin", "rule", "--data-dir", str(data_dir), *args)


def test_add_list_rm(data_dir: Path) -> None:
    added = rule(data_dir, "add", "acme", "--immutable", "v*", "--except", "v*-rc*")
    assert added.returncode == 0, added.stderr
    assert added.stdout == (
        "added rule #1 acme v* except v*-rc*: matching tags may be created once, never moved\n"
    )
    assert rule(data_dir, "add", "acme/app-*", "--immutable", "*.*.*").returncode == 0
    assert (
        rule(
            data_dir, "add", "other", "--immutable", "*", "--except", "latest", "--except", "dev"
        ).returncode
        == 0
    )
    listed = rule(data_dir, "list").stdout.splitlines()
    assert [line.split("  ")[0] for line in listed] == [
        "#1 acme v* except v*-rc*",
        "#2 acme/app-* *.*.*",
        "#3 other * except latest,dev",
    ]
    assert re.fullmatch(r"#1 acme v\* except v\*-rc\*  added \S+Z by cli:\S+", listed[0])
    assert [
        line.split("  ")[0] for line in rule(data_dir, "list", "other").stdout.splitlines()
    ] == ["#3 other * except latest,dev"]
    removed = rule(data_dir, "rm", "2")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.startswith("removed rule #2 acme/app-* *.*.*")
    assert "tag rule #2 acme/app-* *.*.* removed by cli:" in removed.stderr  # the log line
    assert [line.split("  ")[0] for line in rule(data_dir, "list").stdout.splitlines()] == [
        "#1 acme v* except v*-rc*",
        "#3 other * except latest,dev",
    ]
    audit = rule(data_dir, "list", "--removed").stdout.splitlines()
    assert len(audit) == 1
    assert re.fullmatch(
        r"#2 acme/app-\* \*\.\*\.\*  added \S+ by cli:\S+  removed \S+Z by cli:\S+", audit[0]
    )


def test_refusals_are_one_line(data_dir: Path) -> None:
    assert "rule target 'Acme'" in one_line_error(
        rule(data_dir, "add", "Acme", "--immutable", "v*")
    )
    assert "repository part" in one_line_error(
        rule(data_dir, "add", "acme/App", "--immutable", "v*")
    )
    assert "tag pattern 'v/1'" in one_line_error(
        rule(data_dir, "add", "acme", "--immutable", "v/1")
    )
    assert "tag pattern ''" in one_line_error(
        rule(data_dir, "add", "acme", "--immutable", "v*", "--except", "")
    )
    assert "no tag rule #7 in force" in one_line_error(rule(data_dir, "rm", "7"))
    assert rule(data_dir, "add", "acme", "--immutable", "v*").returncode == 0
    assert rule(data_dir, "rm", "1").returncode == 0
    assert "no tag rule #1 in force" in one_line_error(rule(data_dir, "rm", "1"))
    assert rule(data_dir, "list").stdout == ""
